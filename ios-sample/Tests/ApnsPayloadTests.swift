@testable import CibaSample
import XCTest

/// The app's reading of the server's APNs body (fixture: Tests/Fixtures/apns-request.json, a copy
/// of what server/src/push/apns.rs sends).
final class ApnsPayloadTests: XCTestCase {
    private func fixture() throws -> Data {
        let url = try XCTUnwrap(Bundle(for: Self.self).url(forResource: "apns-request", withExtension: "json"))
        return try Data(contentsOf: url)
    }

    func testReadsTheServersBody() throws {
        let payload = try XCTUnwrap(ApnsPayload(apnsBody: try fixture()))
        XCTAssertEqual(payload.version, "1")
        XCTAssertEqual(payload.issuer, "https://as.example")
        XCTAssertEqual(payload.transactionId, "txn_abc")
        XCTAssertEqual(payload.alertTitleLocKey, ApnsPayload.titleLocKey)
        XCTAssertEqual(payload.alertBodyLocKey, ApnsPayload.bodyLocKey)
        XCTAssertTrue(payload.mutableContent)
    }

    func testHandsTheSdkItsPushPayload() throws {
        let payload = try XCTUnwrap(ApnsPayload(apnsBody: try fixture()))
        let object = try JSONSerialization.jsonObject(with: Data(payload.sdkPayload.utf8)) as? [String: String]
        XCTAssertEqual(object, ["v": "1", "iss": "https://as.example", "txn": "txn_abc"])
    }

    func testIgnoresOtherNotifications() {
        XCTAssertNil(ApnsPayload(userInfo: ["aps": ["alert": "hello"]]))
        XCTAssertNil(ApnsPayload(userInfo: ["ciba": ["v": "1", "iss": "https://as.example"]]))
        XCTAssertNil(ApnsPayload(apnsBody: Data("not json".utf8)))
    }

    func testTheAlertKeysAreLocalized() {
        // The system resolves the server's loc-keys in the app's Localizable.xcstrings.
        for key in [ApnsPayload.titleLocKey, ApnsPayload.bodyLocKey] {
            let text = Bundle.main.localizedString(forKey: key, value: "MISSING", table: nil)
            XCTAssertNotEqual(text, "MISSING", key)
            XCTAssertNotEqual(text, key, key)
        }
    }
}
