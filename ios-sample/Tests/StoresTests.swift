@testable import CibaSample
import CibaAuthenticator
import XCTest

/// The keychain stores, on the Simulator's keychain (a service of their own, removed afterwards).
final class StoresTests: XCTestCase {
    private let service = "org.openciba.sample.tests.\(UUID().uuidString)"

    private func account(_ id: String, at time: Int64) -> Account {
        Account(id: id, issuer: "https://as.example", deviceId: "dev_\(id)", keyAlias: "key-\(id)",
                subject: "sub", userDisplayName: nil, accountLabel: "Bank \(id)", enrolledAt: time,
                push: PushRegistration(provider: .apns, token: "ab12", environment: .sandbox),
                keyOptions: KeyOptions(userVerification: UserVerification.none, preferSecureHardware: true),
                tlsPins: ["pin"], attestation: EnrolledAttestation(status: "verified", amr: ["hwk"], reason: nil),
                approvalKeyAlias: "approval-\(id)", approvalAttestation: nil)
    }

    func testAccountRecordRoundTrip() throws {
        let original = account("a", at: 10)
        let data = try AccountRecord(original).encoded()
        XCTAssertEqual(try AccountRecord.decode(data).account(), original)
    }

    func testCorruptItemsAreReportedNotSkipped() {
        XCTAssertThrowsError(try AccountRecord.decode(Data("{}".utf8))) { error in
            guard case StoreError.Corrupt = error else { return XCTFail("\(error)") }
        }
    }

    func testKeychainAccountStore() throws {
        let store = KeychainAccountStore(accessGroup: SharedConfig.keychainAccessGroup, service: service)
        defer { for id in ["a", "b"] { try? store.delete(accountId: id) } }
        XCTAssertEqual(try store.loadAll(), [])
        try store.save(account: account("b", at: 20))
        try store.save(account: account("a", at: 10))
        XCTAssertEqual(try store.loadAll().map(\.id), ["a", "b"])   // enrollment order
        try store.delete(accountId: "b")
        try store.delete(accountId: "b")                            // absent: not an error
        XCTAssertEqual(try store.loadAll().map(\.id), ["a"])
    }

    func testKeyInvalidationFollowsTheBiometricState() {
        let record = KeyRecord(protection: .softwareSimulator, userVerification: "biometric",
                               biometryDomainState: Data([1]), appAttestKeyId: nil, attestationFallback: nil)
        XCTAssertFalse(SecureEnclaveKeyStore.invalidated(record, now: .enrolled(domainState: Data([1]))))
        XCTAssertTrue(SecureEnclaveKeyStore.invalidated(record, now: .enrolled(domainState: Data([2]))))
        XCTAssertTrue(SecureEnclaveKeyStore.invalidated(record, now: .notEnrolled))
        XCTAssertFalse(SecureEnclaveKeyStore.invalidated(record, now: .unavailable))
    }

    func testSigningErrorsMapToTheSdksTypes() {
        let cancel = NSError(domain: NSOSStatusErrorDomain, code: Int(errSecUserCanceled))
        XCTAssertEqual(SecureEnclaveKeyStore.signingError(cancel, alias: "k", biometric: true), .UserCancelled)
        let auth = NSError(domain: NSOSStatusErrorDomain, code: Int(errSecAuthFailed))
        XCTAssertEqual(SecureEnclaveKeyStore.signingError(auth, alias: "k", biometric: true), .KeyInvalidated(alias: "k"))
    }

    func testEveryErrorHasAText() {
        let errors: [AuthenticatorError] = [
            .Network(details: ""), .UntrustedServer(details: ""), .Server(status: 400, error: "x", description: nil),
            .DeviceRevoked, .KeyMissing, .UserCancelled, .UserAuthenticationRequired, .KeyInvalidated, .Expired,
            .AlreadyDecided, .NotFound, .UnknownIssuer(issuer: ""), .InvalidInput(details: ""),
            .InsecureIssuer(issuer: ""), .Storage(details: ""), .KeyStore(details: ""), .Protocol(details: ""),
        ]
        for error in errors {
            let text = ErrorText.message(for: error, bank: "Bank")
            XCTAssertFalse(text.isEmpty)
            XCTAssertFalse(text.hasPrefix("error."), "untranslated key for \(error)")
        }
        XCTAssertEqual(RequestFlow.nextStep(after: AuthenticatorError.KeyInvalidated, bank: nil), .linkAgain(.biometricsChanged))
        XCTAssertEqual(RequestFlow.nextStep(after: KeyStoreError.KeyInvalidated(alias: "k"), bank: nil), .linkAgain(.biometricsChanged))
    }
}
