// Compiled into the app and the Notification Service Extension (project.yml).
import Foundation

/// What the app and its Notification Service Extension share: the keychain access group that holds
/// the keys and the accounts, the app group whose defaults hold the notification log, and the APNs
/// environment. Each value comes from the target's Info.plist, where Xcode substitutes the build
/// settings (`$(AppIdentifierPrefix)`, `$(CIBA_APNS_ENVIRONMENT)`), so both targets read the same.
enum SharedConfig {
    /// `$(AppIdentifierPrefix)org.openciba.sample.shared` (Info.plist `CibaKeychainAccessGroup`,
    /// also the first entry of `keychain-access-groups` in both entitlements files). `nil` when the
    /// key is missing: the keychain then uses the first group of the entitlement, the same one.
    static var keychainAccessGroup: String? {
        infoString("CibaKeychainAccessGroup")
    }

    /// `group.org.openciba.sample` (Info.plist `CibaAppGroup`, entitlement
    /// `com.apple.security.application-groups` of both targets).
    static var appGroup: String? {
        infoString("CibaAppGroup")
    }

    /// `sandbox` for Debug builds, `production` for Release (Info.plist `CibaApnsEnvironment`,
    /// build setting `CIBA_APNS_ENVIRONMENT` in project.yml). It must match `aps-environment`.
    static var apnsEnvironmentIsSandbox: Bool {
        infoString("CibaApnsEnvironment") != "production"
    }

    /// The bank's TLS pins shipped with the app (Info.plist `CibaTLSPins`, base64 SHA-256 of the
    /// server's SubjectPublicKeyInfo). Empty in the sample: no pinning.
    static var tlsPins: [String] {
        (Bundle.main.object(forInfoDictionaryKey: "CibaTLSPins") as? [String]) ?? []
    }

    /// The app group's defaults (the notification log, the push state); standard defaults when the
    /// group is not configured, so that a misconfigured build still runs (and the log is then
    /// visibly empty in the app).
    static var defaults: UserDefaults {
        appGroup.flatMap { UserDefaults(suiteName: $0) } ?? .standard
    }

    private static func infoString(_ key: String) -> String? {
        guard let value = Bundle.main.object(forInfoDictionaryKey: key) as? String,
              !value.isEmpty, !value.contains("$(") else { return nil }
        return value
    }
}

/// A localized string of the target's `Localizable.xcstrings` (en and fr), formatted with `args`.
/// Every user-facing string goes through here, so that `scripts/check.py` can verify each key
/// exists in every locale.
func L(_ key: String, _ args: CVarArg...) -> String {
    let format = NSLocalizedString(key, tableName: nil, bundle: .main, value: key, comment: "")
    return args.isEmpty ? format : String(format: format, locale: Locale.current, arguments: args)
}

/// What the Notification Service Extension did with each push, kept in the app group so the app
/// can show it (About → Notification log). Only transaction ids and outcomes: no personal data.
enum NotificationLog {
    struct Entry: Codable, Equatable, Identifiable {
        let date: Date
        let transactionId: String
        /// `true` when the notification shows the fetched details, `false` when it kept the
        /// server's generic text.
        let detailed: Bool
        /// Why it kept the generic text.
        let reason: String?
        var id: String { "\(transactionId)-\(date.timeIntervalSince1970)" }
    }

    private static let key = "ciba.notificationLog"
    private static let limit = 20

    static func record(_ entry: Entry) {
        var entries = all()
        entries.insert(entry, at: 0)
        if let data = try? JSONEncoder().encode(Array(entries.prefix(limit))) {
            SharedConfig.defaults.set(data, forKey: key)
        }
    }

    static func all() -> [Entry] {
        guard let data = SharedConfig.defaults.data(forKey: key),
              let entries = try? JSONDecoder().decode([Entry].self, from: data) else { return [] }
        return entries
    }
}
