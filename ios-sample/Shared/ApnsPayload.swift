// Compiled into the app and the Notification Service Extension (project.yml).
import Foundation

/// The APNs notification the server sends (server/src/push/apns.rs):
///
///     {"aps": {"alert": {"title-loc-key": "CIBA_REQUEST_TITLE", "loc-key": "CIBA_REQUEST_BODY"},
///              "sound": "default", "mutable-content": 1},
///      "ciba": {"v": "1", "iss": "<issuer>", "txn": "<txn_id>"}}
///
/// The alert is generic text from the app's Localizable.xcstrings; the custom key `ciba` is the
/// SDK's wake-up payload (core/src/protocol/push.rs `PushPayload`), which `Authenticator.handlePush`
/// validates and routes. This type only finds it in `userInfo` and hands it on as JSON text.
struct ApnsPayload: Equatable, Sendable {
    /// The loc-keys the server puts in every alert (`ALERT_TITLE_LOC_KEY`, `ALERT_LOC_KEY`).
    static let titleLocKey = "CIBA_REQUEST_TITLE"
    static let bodyLocKey = "CIBA_REQUEST_BODY"

    let version: String
    let issuer: String
    let transactionId: String
    let alertTitleLocKey: String?
    let alertBodyLocKey: String?
    let mutableContent: Bool

    /// The payload of a notification's `userInfo`; `nil` when it carries no `ciba` key with the
    /// three strings (another sender's notification).
    init?(userInfo: [AnyHashable: Any]) {
        guard let ciba = userInfo["ciba"] as? [String: Any],
              let version = ciba["v"] as? String,
              let issuer = ciba["iss"] as? String,
              let transactionId = ciba["txn"] as? String else { return nil }
        self.version = version
        self.issuer = issuer
        self.transactionId = transactionId
        let aps = userInfo["aps"] as? [String: Any]
        let alert = aps?["alert"] as? [String: Any]
        alertTitleLocKey = alert?["title-loc-key"] as? String
        alertBodyLocKey = alert?["loc-key"] as? String
        mutableContent = (aps?["mutable-content"] as? NSNumber)?.intValue == 1
    }

    /// The payload of a whole APNs body as JSON (what the tests' fixture holds).
    init?(apnsBody: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: apnsBody),
              let userInfo = object as? [String: Any] else { return nil }
        self.init(userInfo: userInfo)
    }

    /// The JSON text `Authenticator.handlePush(payload:)` takes: `{"iss":…,"txn":…,"v":…}`.
    var sdkPayload: String {
        let object: [String: String] = ["v": version, "iss": issuer, "txn": transactionId]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return "{}"   // not reachable for three strings; the SDK refuses it as InvalidInput
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The notification category and actions. The app registers them (AppDelegate); the Notification
/// Service Extension sets the category on each request notification so the actions appear.
/// There is deliberately no approve action: approving happens only in the app, on the consent
/// screen, after biometrics.
enum NotificationIDs {
    static let requestCategory = "CIBA_REQUEST"
    /// Declines the request (`DenyReason.userDeclined`); needs the phone unlocked, no biometrics.
    static let denyAction = "CIBA_DENY"
}
