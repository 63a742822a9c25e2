// Compiled into the app and the Notification Service Extension (project.yml).
import CibaAuthenticator
import CryptoKit
import CryptoTokenKit
import DeviceCheck
import Foundation
import LocalAuthentication
import Security

/// Where a key lives; the accounts list shows it for every account.
enum KeyProtection: String, Codable {
    /// A Secure Enclave key (`kSecAttrTokenIDSecureEnclave`): the private key never leaves it.
    case secureEnclave
    /// The Simulator has no Secure Enclave: a software P-256 key in the Simulator's keychain.
    case softwareSimulator
    /// A device without a usable Secure Enclave: a software key in the keychain, this device only.
    case softwareFallback

    /// The RFC 8176 method of the key an approval says it used.
    var amrValue: String { self == .secureEnclave ? "hwk" : "swk" }
}

/// What the store keeps next to each key (a generic-password item in the same access group, JSON):
/// where the key lives, how it is protected, and for a biometric key the biometric domain state it
/// was created under, which tells an invalidated key (new face or finger enrolled) from a usable one.
struct KeyRecord: Codable, Equatable {
    var protection: KeyProtection
    /// `none`, `userPresence` or `biometric` (the `UserVerification` the SDK asked for).
    var userVerification: String
    var biometryDomainState: Data?
    /// The App Attest key id of the enrollment, when App Attest attested the account key.
    var appAttestKeyId: String?
    /// Why no App Attest attestation was sent (shown on the account), when none was.
    var attestationFallback: String?
}

/// The biometric state of the device, as LocalAuthentication reports it.
enum BiometryState: Equatable {
    case enrolled(domainState: Data?)
    case notEnrolled
    case unavailable

    static func current(_ context: LAContext = LAContext()) -> BiometryState {
        var error: NSError?
        if context.canEvaluatePolicy(.deviceOwnerAuthenticationWithBiometrics, error: &error) {
            // Deprecated in iOS 18 for `domainState.biometry.stateHash`; same value, still served.
            return .enrolled(domainState: context.evaluatedPolicyDomainState)
        }
        if let error, error.code == LAError.Code.biometryNotEnrolled.rawValue {
            return .notEnrolled
        }
        return .unavailable
    }
}

/// The app's `KeyStore`: P-256 keys in the Secure Enclave, in the shared keychain access group so
/// the Notification Service Extension signs its fetches with the same account key.
///
/// - The account key (`UserVerification.none`) signs DPoP proofs without the user:
///   `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`, so push handling works on a locked phone.
/// - The approval key (`UserVerification.biometric`) is `.privateKeyUsage` + `.biometryCurrentSet`,
///   `kSecAttrAccessibleWhenUnlockedThisDeviceOnly`. It signs only with an `LAContext` the app
///   evaluated just before (`withApprovalContext`), passed as `kSecUseAuthenticationContext`.
/// - Nothing is backed up or synced: every item is `…ThisDeviceOnly`, never synchronizable.
final class SecureEnclaveKeyStore: KeyStore, @unchecked Sendable {
    static let recordService = "org.openciba.sample.keys"
    private static let tagPrefix = "org.openciba.sample.key."

    private let accessGroup: String?
    private let lock = NSLock()
    private var approvalContexts: [String: LAContext] = [:]

    init(accessGroup: String?) {
        self.accessGroup = accessGroup
    }

    // MARK: The approval context

    /// Runs `body` (the SDK's `approve`) with `context` as the authentication context of the
    /// approval key `alias`: the signature uses this evaluation instead of prompting again.
    func withApprovalContext<T>(_ context: LAContext, alias: String,
                                _ body: () async throws -> T) async throws -> T {
        setApprovalContext(context, alias: alias)
        defer { setApprovalContext(nil, alias: alias) }
        return try await body()
    }

    private func setApprovalContext(_ context: LAContext?, alias: String) {
        lock.lock()
        approvalContexts[alias] = context
        lock.unlock()
    }

    private func approvalContext(_ alias: String) -> LAContext? {
        lock.lock()
        defer { lock.unlock() }
        return approvalContexts[alias]
    }

    // MARK: What the UI shows

    func protection(alias: String) -> KeyProtection? {
        (try? readRecord(alias))?.protection
    }

    func attestationFallback(alias: String) -> String? {
        (try? readRecord(alias))?.attestationFallback
    }

    /// The `amr` of an approval signed by the approval key `alias` after `context` was evaluated.
    func approvalAMR(alias: String, context: LAContext) -> [String] {
        let key = protection(alias: alias)?.amrValue ?? "swk"
        switch context.biometryType {
        case .faceID: return [key, "face"]
        case .touchID: return [key, "fpt"]
        default: return [key, "user"]
        }
    }

    /// Whether the biometric key `alias` was invalidated by a change of the enrolled biometrics.
    func isInvalidated(alias: String, context: LAContext = LAContext()) -> Bool {
        guard let record = try? readRecord(alias) else { return false }
        return Self.invalidated(record, now: BiometryState.current(context))
    }

    static func invalidated(_ record: KeyRecord, now: BiometryState) -> Bool {
        guard record.userVerification == "biometric", let stored = record.biometryDomainState else {
            return false
        }
        switch now {
        case .enrolled(let state?): return state != stored
        case .notEnrolled: return true
        case .enrolled(nil), .unavailable: return false
        }
    }

    // MARK: KeyStore

    func createKey(alias: String, options: KeyOptions) throws -> Data {
        try checkAlias(alias)
        if try keyExists(alias) { throw KeyStoreError.AlreadyExists(alias: alias) }
        let (key, protection) = try generate(alias: alias, options: options)
        var domainState: Data?
        if options.userVerification == .biometric, case .enrolled(let state) = BiometryState.current() {
            domainState = state
        }
        let record = KeyRecord(protection: protection, userVerification: Self.name(options.userVerification),
                               biometryDomainState: domainState, appAttestKeyId: nil, attestationFallback: nil)
        do {
            try writeRecord(record, alias: alias)
        } catch {
            try? deleteKey(alias: alias)
            throw error
        }
        return try Self.publicKeyBytes(of: key)
    }

    /// iOS creates the key as `createKey` does: App Attest receives the enrollment's challenge
    /// through `keyAttestation`'s `clientDataHash` (SHA-256(challenge ‖ jkt), computed by the SDK).
    func createEnrollmentKey(alias: String, options: KeyOptions, attestationChallenge: Data) throws -> Data {
        try createKey(alias: alias, options: options)
    }

    /// App Attest: a new App Attest key, attested over the SDK's `clientDataHash`. `nil` when the
    /// device cannot attest (the Simulator, App Attest unsupported or failing): the server's policy
    /// decides, and the account shows why nothing was attested (`attestationFallback`).
    func keyAttestation(alias: String, clientDataHash: Data) throws -> KeyAttestation? {
        #if targetEnvironment(simulator)
        noteAttestation(alias: alias, keyId: nil, fallback: L("attestation.fallback.simulator"))
        return nil
        #else
        let service = DCAppAttestService.shared
        guard service.isSupported else {
            noteAttestation(alias: alias, keyId: nil, fallback: L("attestation.fallback.unsupported"))
            return nil
        }
        do {
            // The SDK calls the key store from its own worker thread, never the main thread: waiting
            // here for App Attest's completion handlers blocks no UI.
            let keyId: String = try Self.waitFor { service.generateKey(completionHandler: $0) }
            let object: Data = try Self.waitFor {
                service.attestKey(keyId, clientDataHash: clientDataHash, completionHandler: $0)
            }
            noteAttestation(alias: alias, keyId: keyId, fallback: nil)
            return .appleAppAttest(attestationObject: object)
        } catch {
            noteAttestation(alias: alias, keyId: nil,
                            fallback: L("attestation.fallback.failed", error.localizedDescription))
            return nil
        }
        #endif
    }

    func publicKey(alias: String) throws -> Data {
        guard let key = try findKey(alias, context: approvalContext(alias)) else {
            throw KeyStoreError.NotFound(alias: alias)
        }
        return try Self.publicKeyBytes(of: key)
    }

    func sign(alias: String, data: Data) throws -> KeySignature {
        let record = try readRecord(alias)
        let biometric = record?.userVerification == "biometric"
        let context = approvalContext(alias)
        if biometric {
            // Never prompt from inside the SDK: approvals come with the context the consent screen
            // evaluated; without one (a background call) the approval key does not sign.
            guard let context else { throw KeyStoreError.UserAuthenticationRequired(alias: alias) }
            if let record, Self.invalidated(record, now: BiometryState.current(context)) {
                throw KeyStoreError.KeyInvalidated(alias: alias)
            }
        }
        guard let key = try findKey(alias, context: context) else {
            if biometric { throw KeyStoreError.KeyInvalidated(alias: alias) }
            throw KeyStoreError.NotFound(alias: alias)
        }
        var error: Unmanaged<CFError>?
        guard let signature = SecKeyCreateSignature(key, .ecdsaSignatureMessageX962SHA256,
                                                    data as CFData, &error) else {
            let failure = error.map { $0.takeRetainedValue() as Error as NSError }
            throw Self.signingError(failure, alias: alias, biometric: biometric)
        }
        return .der(signature: signature as Data)
    }

    func deleteKey(alias: String) throws {
        var key = keyQuery(alias)
        key.removeValue(forKey: kSecReturnRef as String)
        let keyStatus = SecItemDelete(key as CFDictionary)
        let recordStatus = SecItemDelete(recordQuery(alias) as CFDictionary)
        for status in [keyStatus, recordStatus] where status != errSecSuccess && status != errSecItemNotFound {
            throw KeyStoreError.Backend(details: "SecItemDelete: \(status)")
        }
    }

    /// A key the platform invalidated counts as gone (the account then reports NeedsReenrollment).
    func hasKey(alias: String) throws -> Bool {
        guard try keyExists(alias) else { return false }
        return !isInvalidated(alias: alias)
    }

    // MARK: Keys

    private func generate(alias: String, options: KeyOptions) throws -> (SecKey, KeyProtection) {
        #if targetEnvironment(simulator)
        return (try makeKey(alias: alias, options: options, secureEnclave: false), .softwareSimulator)
        #else
        if SecureEnclave.isAvailable {
            // A Secure Enclave that is present but fails is an error, never a silent downgrade.
            return (try makeKey(alias: alias, options: options, secureEnclave: true), .secureEnclave)
        }
        return (try makeKey(alias: alias, options: options, secureEnclave: false), .softwareFallback)
        #endif
    }

    private func makeKey(alias: String, options: KeyOptions, secureEnclave: Bool) throws -> SecKey {
        var flags: SecAccessControlCreateFlags = secureEnclave ? [.privateKeyUsage] : []
        switch options.userVerification {
        case .none: break
        case .userPresence: flags.insert(.userPresence)
        case .biometric: flags.insert(.biometryCurrentSet)
        }
        let accessible = options.userVerification == .none
            ? kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            : kSecAttrAccessibleWhenUnlockedThisDeviceOnly
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(kCFAllocatorDefault, accessible, flags, &error) else {
            throw KeyStoreError.Backend(details: "SecAccessControlCreateWithFlags: \(Self.describe(error))")
        }
        var privateAttributes: [String: Any] = [
            kSecAttrIsPermanent as String: true,
            kSecAttrApplicationTag as String: Self.tag(alias),
            kSecAttrAccessControl as String: access,
        ]
        if let accessGroup { privateAttributes[kSecAttrAccessGroup as String] = accessGroup }
        var attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecPrivateKeyAttrs as String: privateAttributes,
        ]
        if secureEnclave { attributes[kSecAttrTokenID as String] = kSecAttrTokenIDSecureEnclave }
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw KeyStoreError.Backend(details: "SecKeyCreateRandomKey: \(Self.describe(error))")
        }
        return key
    }

    /// Whether a key item exists, looked up without any prompt (a key that would need the user
    /// to be fetched exists too).
    private func keyExists(_ alias: String) throws -> Bool {
        let quiet = LAContext()
        quiet.interactionNotAllowed = true
        var query = keyQuery(alias)
        query.removeValue(forKey: kSecReturnRef as String)
        query[kSecReturnAttributes as String] = true
        query[kSecUseAuthenticationContext as String] = quiet
        var item: CFTypeRef?
        switch SecItemCopyMatching(query as CFDictionary, &item) {
        case errSecSuccess, errSecInteractionNotAllowed: return true
        case errSecItemNotFound: return false
        case let status: throw KeyStoreError.Backend(details: "SecItemCopyMatching: \(status)")
        }
    }

    private func findKey(_ alias: String, context: LAContext?) throws -> SecKey? {
        var query = keyQuery(alias)
        if let context { query[kSecUseAuthenticationContext as String] = context }
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            guard let item, CFGetTypeID(item) == SecKeyGetTypeID() else {
                throw KeyStoreError.Backend(details: "keychain returned no key for \(alias)")
            }
            return (item as! SecKey)
        case errSecItemNotFound:
            return nil
        case errSecInteractionNotAllowed:
            throw KeyStoreError.UserAuthenticationRequired(alias: alias)
        default:
            throw KeyStoreError.Backend(details: "SecItemCopyMatching: \(status)")
        }
    }

    private func keyQuery(_ alias: String) -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrKeyClass as String: kSecAttrKeyClassPrivate,
            kSecAttrApplicationTag as String: Self.tag(alias),
            kSecReturnRef as String: true,
        ]
        if let accessGroup { query[kSecAttrAccessGroup as String] = accessGroup }
        return query
    }

    private func checkAlias(_ alias: String) throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !alias.isEmpty, alias.count <= 128,
              alias.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw KeyStoreError.InvalidAlias(alias: alias)
        }
    }

    // MARK: Key records

    private func recordQuery(_ alias: String) -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: Self.recordService,
            kSecAttrAccount as String: alias,
        ]
        if let accessGroup { query[kSecAttrAccessGroup as String] = accessGroup }
        return query
    }

    private func readRecord(_ alias: String) throws -> KeyRecord? {
        var query = recordQuery(alias)
        query[kSecReturnData as String] = true
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = item as? Data else {
            throw KeyStoreError.Backend(details: "key record of \(alias): \(status)")
        }
        do {
            return try JSONDecoder().decode(KeyRecord.self, from: data)
        } catch {
            throw KeyStoreError.Backend(details: "key record of \(alias) unreadable: \(error)")
        }
    }

    private func writeRecord(_ record: KeyRecord, alias: String) throws {
        let data = try JSONEncoder().encode(record)
        let update = SecItemUpdate(recordQuery(alias) as CFDictionary, [kSecValueData as String: data] as CFDictionary)
        if update == errSecSuccess { return }
        guard update == errSecItemNotFound else {
            throw KeyStoreError.Backend(details: "SecItemUpdate: \(update)")
        }
        var add = recordQuery(alias)
        add[kSecValueData as String] = data
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        add[kSecAttrSynchronizable as String] = false
        let status = SecItemAdd(add as CFDictionary, nil)
        guard status == errSecSuccess else { throw KeyStoreError.Backend(details: "SecItemAdd: \(status)") }
    }

    private func noteAttestation(alias: String, keyId: String?, fallback: String?) {
        guard var record = try? readRecord(alias) else { return }
        record.appAttestKeyId = keyId
        record.attestationFallback = fallback
        try? writeRecord(record, alias: alias)
    }

    // MARK: Helpers

    private static func tag(_ alias: String) -> Data { Data((tagPrefix + alias).utf8) }

    private static func name(_ verification: UserVerification) -> String {
        switch verification {
        case .none: return "none"
        case .userPresence: return "userPresence"
        case .biometric: return "biometric"
        }
    }

    private static func publicKeyBytes(of privateKey: SecKey) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let publicKey = SecKeyCopyPublicKey(privateKey),
              let bytes = SecKeyCopyExternalRepresentation(publicKey, &error) else {
            throw KeyStoreError.Backend(details: "public key: \(describe(error))")
        }
        return bytes as Data   // 04 ‖ x ‖ y, 65 bytes
    }

    private static func describe(_ error: Unmanaged<CFError>?) -> String {
        error.map { "\($0.takeRetainedValue())" } ?? "unknown error"
    }

    /// Maps a failed signature to the typed errors the SDK turns into `AuthenticatorError`.
    static func signingError(_ error: NSError?, alias: String, biometric: Bool) -> KeyStoreError {
        guard let error else { return .Backend(details: "SecKeyCreateSignature failed") }
        switch (error.domain, error.code) {
        case (LAError.errorDomain, LAError.Code.userCancel.rawValue),
             (LAError.errorDomain, LAError.Code.appCancel.rawValue),
             (LAError.errorDomain, LAError.Code.systemCancel.rawValue),
             (LAError.errorDomain, LAError.Code.userFallback.rawValue),
             (NSOSStatusErrorDomain, Int(errSecUserCanceled)),
             (TKError.errorDomain, TKError.Code.canceledByUser.rawValue):
            return .UserCancelled
        case (LAError.errorDomain, LAError.Code.authenticationFailed.rawValue),
             (LAError.errorDomain, LAError.Code.notInteractive.rawValue),
             (NSOSStatusErrorDomain, Int(errSecInteractionNotAllowed)),
             (TKError.errorDomain, TKError.Code.authenticationNeeded.rawValue):
            return .UserAuthenticationRequired(alias: alias)
        case (LAError.errorDomain, LAError.Code.biometryNotEnrolled.rawValue),
             (NSOSStatusErrorDomain, Int(errSecAuthFailed)),
             (TKError.errorDomain, TKError.Code.corruptedData.rawValue):
            // A `.biometryCurrentSet` key whose biometric set changed fails here for good.
            return biometric ? .KeyInvalidated(alias: alias) : .Backend(details: error.localizedDescription)
        case (NSOSStatusErrorDomain, Int(errSecItemNotFound)),
             (TKError.errorDomain, TKError.Code.objectNotFound.rawValue):
            return biometric ? .KeyInvalidated(alias: alias) : .NotFound(alias: alias)
        default:
            return .Backend(details: "\(error.domain) \(error.code): \(error.localizedDescription)")
        }
    }

    /// Waits for an App Attest completion handler (at most 30 s).
    private static func waitFor<T>(_ start: (@escaping (T?, Error?) -> Void) -> Void) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        start { value, error in
            if let value {
                box.result = .success(value)
            } else {
                box.result = .failure(error ?? KeyStoreError.Backend(details: "App Attest returned nothing"))
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + 30) == .success else {
            throw KeyStoreError.Backend(details: "App Attest timed out")
        }
        return try box.result.get()
    }
}

/// The result of a completion handler, handed from its thread to the waiting one (the semaphore
/// orders the write before the read).
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error> = .failure(KeyStoreError.Backend(details: "App Attest timed out"))
}
