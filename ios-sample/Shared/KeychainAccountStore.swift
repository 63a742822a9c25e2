// Compiled into the app and the Notification Service Extension (project.yml).
import CibaAuthenticator
import Foundation
import Security

/// The app's `AccountStore`: one keychain item per account (generic password, service
/// `org.openciba.sample.accounts`, account = `Account.id`, data = `AccountRecord` as JSON), in the
/// shared access group so that the Notification Service Extension reads the same accounts.
///
/// - Atomic writes: each `save` is one `SecItemUpdate` or one `SecItemAdd` of one whole item, each
///   `delete` one `SecItemDelete`; the keychain applies each call entirely or not at all.
/// - Not backed up, not synced: `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`, not
///   synchronizable. A restored backup has no accounts and no keys, so nothing half-restored.
/// - After first unlock: the extension reads the accounts while the phone is locked.
final class KeychainAccountStore: AccountStore, @unchecked Sendable {
    static let service = "org.openciba.sample.accounts"

    private let accessGroup: String?
    private let service: String

    init(accessGroup: String?, service: String = KeychainAccountStore.service) {
        self.accessGroup = accessGroup
        self.service = service
    }

    func loadAll() throws -> [Account] {
        var query = baseQuery()
        query[kSecMatchLimit as String] = kSecMatchLimitAll
        query[kSecReturnAttributes as String] = true
        query[kSecReturnData as String] = true
        var result: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        if status == errSecItemNotFound { return [] }
        guard status == errSecSuccess, let items = result as? [[String: Any]] else {
            throw StoreError.Io(details: "SecItemCopyMatching: \(status)")
        }
        var loaded: [(record: AccountRecord, created: Date)] = []
        for item in items {
            guard let data = item[kSecValueData as String] as? Data else {
                throw StoreError.Corrupt(details: "an account item has no data")
            }
            let record = try AccountRecord.decode(data)
            loaded.append((record, item[kSecAttrCreationDate as String] as? Date ?? .distantPast))
        }
        // Enrollment order: the device clock at enrollment, then the keychain's creation date.
        loaded.sort { ($0.record.enrolledAt, $0.created, $0.record.id) < ($1.record.enrolledAt, $1.created, $1.record.id) }
        return try loaded.map { try $0.record.account() }
    }

    func save(account: Account) throws {
        let data = try AccountRecord(account).encoded()
        var query = baseQuery()
        query[kSecAttrAccount as String] = account.id
        let update = SecItemUpdate(query as CFDictionary, [kSecValueData as String: data] as CFDictionary)
        if update == errSecSuccess { return }
        guard update == errSecItemNotFound else {
            throw StoreError.Io(details: "SecItemUpdate: \(update)")
        }
        var add = query
        add[kSecValueData as String] = data
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        add[kSecAttrSynchronizable as String] = false
        add[kSecAttrLabel as String] = "CIBA account \(account.accountLabel)"
        let status = SecItemAdd(add as CFDictionary, nil)
        if status == errSecDuplicateItem {
            // Added by the other process in between: replace it, again in one call.
            let retry = SecItemUpdate(query as CFDictionary, [kSecValueData as String: data] as CFDictionary)
            guard retry == errSecSuccess else { throw StoreError.Io(details: "SecItemUpdate: \(retry)") }
            return
        }
        guard status == errSecSuccess else { throw StoreError.Io(details: "SecItemAdd: \(status)") }
    }

    func delete(accountId: String) throws {
        var query = baseQuery()
        query[kSecAttrAccount as String] = accountId
        let status = SecItemDelete(query as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw StoreError.Io(details: "SecItemDelete: \(status)")
        }
    }

    private func baseQuery() -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
        ]
        if let accessGroup { query[kSecAttrAccessGroup as String] = accessGroup }
        return query
    }
}

/// The stored form of an `Account` (the generated record is not `Codable`): version 1, every
/// field of `Account`, enums as their Swift case names. An item this cannot read is reported as
/// `StoreError.Corrupt`, never skipped, so that an account does not silently disappear.
struct AccountRecord: Codable, Equatable {
    struct Push: Codable, Equatable {
        var provider: String
        var token: String?
        var environment: String
    }
    struct Options: Codable, Equatable {
        var userVerification: String
        var preferSecureHardware: Bool
    }
    struct Attestation: Codable, Equatable {
        var status: String
        var amr: [String]
        var reason: String?
    }

    static let currentVersion = 1

    var version: Int
    var id: String
    var issuer: String
    var deviceId: String
    var keyAlias: String
    var subject: String
    var userDisplayName: String?
    var accountLabel: String
    var enrolledAt: Int64
    var push: Push
    var keyOptions: Options
    var tlsPins: [String]
    var attestation: Attestation?
    var approvalKeyAlias: String?
    var approvalAttestation: Attestation?

    init(_ account: Account) {
        version = Self.currentVersion
        id = account.id
        issuer = account.issuer
        deviceId = account.deviceId
        keyAlias = account.keyAlias
        subject = account.subject
        userDisplayName = account.userDisplayName
        accountLabel = account.accountLabel
        enrolledAt = account.enrolledAt
        push = Push(provider: Self.name(account.push.provider), token: account.push.token,
                    environment: Self.name(account.push.environment))
        keyOptions = Options(userVerification: Self.name(account.keyOptions.userVerification),
                             preferSecureHardware: account.keyOptions.preferSecureHardware)
        tlsPins = account.tlsPins
        attestation = account.attestation.map(Self.attestation)
        approvalKeyAlias = account.approvalKeyAlias
        approvalAttestation = account.approvalAttestation.map(Self.attestation)
    }

    static func decode(_ data: Data) throws -> AccountRecord {
        let record: AccountRecord
        do {
            record = try JSONDecoder().decode(AccountRecord.self, from: data)
        } catch {
            throw StoreError.Corrupt(details: "account item unreadable: \(error)")
        }
        guard record.version == currentVersion else {
            throw StoreError.Corrupt(details: "account item version \(record.version)")
        }
        return record
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return try encoder.encode(self)
        } catch {
            throw StoreError.Io(details: "account \(id) not encodable: \(error)")
        }
    }

    func account() throws -> Account {
        Account(
            id: id, issuer: issuer, deviceId: deviceId, keyAlias: keyAlias, subject: subject,
            userDisplayName: userDisplayName, accountLabel: accountLabel, enrolledAt: enrolledAt,
            push: PushRegistration(provider: try Self.provider(push.provider), token: push.token,
                                   environment: try Self.environment(push.environment)),
            keyOptions: KeyOptions(userVerification: try Self.verification(keyOptions.userVerification),
                                   preferSecureHardware: keyOptions.preferSecureHardware),
            tlsPins: tlsPins,
            attestation: attestation.map(Self.enrolled),
            approvalKeyAlias: approvalKeyAlias,
            approvalAttestation: approvalAttestation.map(Self.enrolled))
    }

    private static func attestation(_ value: EnrolledAttestation) -> Attestation {
        Attestation(status: value.status, amr: value.amr, reason: value.reason)
    }

    private static func enrolled(_ value: Attestation) -> EnrolledAttestation {
        EnrolledAttestation(status: value.status, amr: value.amr, reason: value.reason)
    }

    static func name(_ value: PushProvider) -> String {
        switch value {
        case .fcm: return "fcm"
        case .apns: return "apns"
        case .none: return "none"
        }
    }

    static func name(_ value: PushEnvironment) -> String {
        switch value {
        case .production: return "production"
        case .sandbox: return "sandbox"
        }
    }

    static func name(_ value: UserVerification) -> String {
        switch value {
        case .none: return "none"
        case .userPresence: return "userPresence"
        case .biometric: return "biometric"
        }
    }

    private static func provider(_ name: String) throws -> PushProvider {
        switch name {
        case "fcm": return .fcm
        case "apns": return .apns
        case "none": return PushProvider.none
        default: throw StoreError.Corrupt(details: "push provider \(name)")
        }
    }

    private static func environment(_ name: String) throws -> PushEnvironment {
        switch name {
        case "production": return .production
        case "sandbox": return .sandbox
        default: throw StoreError.Corrupt(details: "push environment \(name)")
        }
    }

    private static func verification(_ name: String) throws -> UserVerification {
        switch name {
        case "none": return UserVerification.none
        case "userPresence": return .userPresence
        case "biometric": return .biometric
        default: throw StoreError.Corrupt(details: "user verification \(name)")
        }
    }
}
