// Smoke tests of the Swift bindings, without a server: the library loads, values cross the FFI
// both ways, async calls complete, and errors thrown by a Swift KeyStore come back typed.
// The full flow against a real server is tested on the JVM (bindings/kotlin); both bindings
// are generated from the same library.
import CryptoKit
import Foundation
import XCTest
import CibaAuthenticator

/// Software P-256 keys on CryptoKit, standing in for the Secure Enclave (same formats: x963
/// public keys, DER signatures).
final class CryptoKitKeyStore: KeyStore, @unchecked Sendable {
    private var keys: [String: P256.Signing.PrivateKey] = [:]
    private let lock = NSLock()
    var failure: Error?

    var count: Int { lock.lock(); defer { lock.unlock() }; return keys.count }

    func createKey(alias: String, options: KeyOptions) throws -> Data {
        if let failure { throw failure }
        lock.lock(); defer { lock.unlock() }
        if keys[alias] != nil { throw KeyStoreError.AlreadyExists(alias: alias) }
        let key = P256.Signing.PrivateKey()
        keys[alias] = key
        return key.publicKey.x963Representation
    }

    func publicKey(alias: String) throws -> Data {
        try key(alias).publicKey.x963Representation
    }

    func sign(alias: String, data: Data) throws -> KeySignature {
        .der(signature: try key(alias).signature(for: data).derRepresentation)
    }

    func deleteKey(alias: String) throws {
        lock.lock(); defer { lock.unlock() }
        keys[alias] = nil
    }

    func hasKey(alias: String) throws -> Bool {
        lock.lock(); defer { lock.unlock() }
        return keys[alias] != nil
    }

    /// CryptoKit keys have no attestation challenge to take.
    func createEnrollmentKey(alias: String, options: KeyOptions, attestationChallenge: Data) throws -> Data {
        try createKey(alias: alias, options: options)
    }

    /// No App Attest here: a real app returns `.appleAppAttest(attestationObject:)` from
    /// `DCAppAttestService.shared.attestKey(keyId, clientDataHash: clientDataHash)`.
    func keyAttestation(alias: String, clientDataHash: Data) throws -> KeyAttestation? {
        nil
    }

    private func key(_ alias: String) throws -> P256.Signing.PrivateKey {
        lock.lock(); defer { lock.unlock() }
        guard let key = keys[alias] else { throw KeyStoreError.NotFound(alias: alias) }
        return key
    }
}

final class MemoryAccountStore: AccountStore, @unchecked Sendable {
    private var accounts: [Account] = []
    private let lock = NSLock()

    func loadAll() throws -> [Account] {
        lock.lock(); defer { lock.unlock() }
        return accounts
    }

    func save(account: Account) throws {
        lock.lock(); defer { lock.unlock() }
        if let i = accounts.firstIndex(where: { $0.id == account.id }) {
            accounts[i] = account
        } else {
            accounts.append(account)
        }
    }

    func delete(accountId: String) throws {
        lock.lock(); defer { lock.unlock() }
        accounts.removeAll { $0.id == accountId }
    }
}

final class CibaAuthenticatorTests: XCTestCase {
    let device = DeviceInfo(
        displayName: "Swift test", platform: .ios, model: nil, osVersion: nil, appVersion: nil,
        sdkVersion: sdkVersion())
    let noPush = PushRegistration(provider: .none, token: nil, environment: .production)

    func testConsentTextIsTheCanonicalString() throws {
        let view = TransactionView(
            id: "txn_1", status: .pending,
            client: ClientView(clientId: "c", name: "Console", logoUri: nil),
            scope: ["openid"], acrValues: [], bindingMessage: nil, authorizationDetails: nil,
            userCodeRequired: false, requestedAt: 1, expiresAt: 2, challenge: "ch")
        let text = try consentText(txn: Transaction(accountId: "a", view: view))
        XCTAssertEqual(text, "ciba-consent-v1\nc\nopenid\n\n")
    }

    func testRefusalsAreTypedAndFailedEnrollmentsLeaveNoKey() async throws {
        let keys = CryptoKitKeyStore()
        let auth = try Authenticator(
            accounts: MemoryAccountStore(), keys: keys, config: defaultAuthenticatorConfig())
        do {
            _ = try await auth.enroll(uri: "https://not-an-enrollment-uri", device: device, push: noPush)
            XCTFail("expected InvalidInput")
        } catch AuthenticatorError.InvalidInput {}

        // Nothing listens on port 9 of the loopback: a network error, after the key was made.
        do {
            _ = try await auth.enroll(
                uri: "ciba-enroll://v1?issuer=http%3A%2F%2F127.0.0.1%3A9&code=abc", device: device,
                push: noPush)
            XCTFail("expected Network")
        } catch AuthenticatorError.Network {}
        XCTAssertEqual(keys.count, 0)
        XCTAssertEqual(try auth.accounts(), [])
    }

    func testErrorsThrownByTheKeyStoreComeBackAsErrors() async throws {
        let keys = CryptoKitKeyStore()
        let auth = try Authenticator(
            accounts: MemoryAccountStore(), keys: keys, config: defaultAuthenticatorConfig())
        let uri = "ciba-enroll://v1?issuer=http%3A%2F%2F127.0.0.1%3A9&code=abc"

        keys.failure = KeyStoreError.UserCancelled
        do {
            _ = try await auth.enroll(uri: uri, device: device, push: noPush)
            XCTFail("expected UserCancelled")
        } catch AuthenticatorError.UserCancelled {}

        keys.failure = NSError(
            domain: "SecureEnclave", code: -1,
            userInfo: [NSLocalizedDescriptionKey: "Secure Enclave unavailable"])
        do {
            _ = try await auth.enroll(uri: uri, device: device, push: noPush)
            XCTFail("expected KeyStore")
        } catch AuthenticatorError.KeyStore(let details) {
            XCTAssertTrue(details.contains("Secure Enclave"), details)
        }
    }
}
