// Compiled into the app and the Notification Service Extension (project.yml). The extension is
// built with the compilation condition CIBA_EXTENSION: enrolling and approving are compiled into
// the app only, so the extension cannot approve anything.
import CibaAuthenticator
import Foundation
import LocalAuthentication
#if !CIBA_EXTENSION
import UIKit
#endif

/// A failure of the app's own flow (not the SDK's).
enum FlowError: Error, Equatable {
    /// Approve was asked while the app is not in the foreground.
    case notInForeground
    /// The SDK's consent text covers something the screen did not show.
    case consentMismatch
    /// The account was enrolled without an approval key.
    case noApprovalKey
    /// Face ID / Touch ID is not set up or not available.
    case biometryUnavailable
    /// Biometrics are locked after failed attempts: unlock the phone with the passcode first.
    case biometryLockout
    /// The request needs a user code, which the SDK's `approve` cannot send.
    case userCodeUnsupported
}

/// Why an account must be linked again.
enum LinkAgainReason: Equatable {
    /// The approval key was invalidated: Face ID / Touch ID changed.
    case biometricsChanged
    /// The key is gone (restored backup, new phone, app data cleared).
    case keyMissing
    /// The bank revoked this phone.
    case revoked
}

/// What the screen does after an error.
enum NextStep: Equatable {
    case linkAgain(LinkAgainReason)
    /// Stay on the request; nothing was sent.
    case backToRequest
    /// Show the biometric prompt again, then approve again.
    case promptAgain
    /// Close the request and show the text.
    case closeRequest(String)
    /// Show the text and stay.
    case show(String)
}

/// The app's use of the SDK: one `Authenticator` over the keychain stores, shared by the app and
/// the Notification Service Extension (each process makes its own, over the same keychain items).
final class RequestFlow: @unchecked Sendable {
    let authenticator: Authenticator
    let keys: SecureEnclaveKeyStore
    let accounts: KeychainAccountStore

    init(authenticator: Authenticator, keys: SecureEnclaveKeyStore, accounts: KeychainAccountStore) {
        self.authenticator = authenticator
        self.keys = keys
        self.accounts = accounts
    }

    /// The flow over the shared keychain. `timeout` bounds each server call: the extension has
    /// about 30 seconds in all, so it passes less than the SDK's default.
    static func live(timeout: TimeInterval? = nil) throws -> RequestFlow {
        let group = SharedConfig.keychainAccessGroup
        let keys = SecureEnclaveKeyStore(accessGroup: group)
        let accounts = KeychainAccountStore(accessGroup: group)
        let defaults = defaultAuthenticatorConfig()
        let config = AuthenticatorConfig(userAgent: defaults.userAgent, timeout: timeout ?? defaults.timeout,
                                         trustSystemRoots: defaults.trustSystemRoots,
                                         extraTrustAnchors: defaults.extraTrustAnchors)
        let authenticator = try Authenticator(accounts: accounts, keys: keys, config: config)
        return RequestFlow(authenticator: authenticator, keys: keys, accounts: accounts)
    }

    // MARK: Reading (app and extension; the account key signs, no prompt)

    /// The transaction a push names, fetched with the account key.
    func handle(push: ApnsPayload) async throws -> Transaction {
        try await authenticator.handlePush(payload: push.sdkPayload)
    }

    func pending() async throws -> [Transaction] {
        try await authenticator.pending()
    }

    func allAccounts() throws -> [Account] {
        try authenticator.accounts()
    }

    /// Each account's state; an account whose status cannot be fetched now (no network) is left
    /// out rather than shown as broken.
    func states(of accounts: [Account]) async -> [String: AccountState] {
        var states: [String: AccountState] = [:]
        for account in accounts {
            if let state = try? await authenticator.accountStatus(accountId: account.id) {
                states[account.id] = state
            }
        }
        return states
    }

    /// Declines the request: signed with the account key, no biometrics (also from the
    /// notification's Decline action, in the background).
    func deny(_ txn: Transaction, reason: DenyReason) async throws -> DecisionStatus {
        try await authenticator.deny(txn: txn, reason: reason)
    }

    func updatePushToken(_ push: PushRegistration) async throws -> [PushTokenUpdate] {
        try await authenticator.updatePushToken(push: push)
    }

    /// What to do after `error`, for an action on an account labelled `bank`.
    static func nextStep(after error: Error, bank: String?) -> NextStep {
        switch error {
        case AuthenticatorError.KeyInvalidated, KeyStoreError.KeyInvalidated:
            return .linkAgain(.biometricsChanged)
        case AuthenticatorError.KeyMissing, KeyStoreError.NotFound:
            return .linkAgain(.keyMissing)
        case AuthenticatorError.DeviceRevoked:
            return .linkAgain(.revoked)
        case AuthenticatorError.UserCancelled, KeyStoreError.UserCancelled:
            return .backToRequest
        case AuthenticatorError.UserAuthenticationRequired, KeyStoreError.UserAuthenticationRequired:
            return .promptAgain
        case AuthenticatorError.Expired, AuthenticatorError.AlreadyDecided, AuthenticatorError.NotFound:
            return .closeRequest(ErrorText.message(for: error, bank: bank))
        default:
            return .show(ErrorText.message(for: error, bank: bank))
        }
    }

    #if !CIBA_EXTENSION
    // MARK: App only: enrolling and approving

    /// Enrolls from a `ciba-enroll://` link or QR code: the account key signs fetches without the
    /// user, the approval key (biometric, current set) signs approvals only.
    func enroll(uri: String, apnsToken: String?) async throws -> Account {
        guard case .enrolled = BiometryState.current() else { throw FlowError.biometryUnavailable }
        let device = await MainActor.run { () -> DeviceInfo in
            let current = UIDevice.current
            let version = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String
            return DeviceInfo(displayName: current.name, platform: .ios, model: current.model,
                              osVersion: current.systemVersion, appVersion: version, sdkVersion: sdkVersion())
        }
        let environment: PushEnvironment = SharedConfig.apnsEnvironmentIsSandbox ? .sandbox : .production
        let push = apnsToken.map { PushRegistration(provider: .apns, token: $0, environment: environment) }
            ?? PushRegistration(provider: PushProvider.none, token: nil, environment: environment)
        let options = EnrollOptions(key: KeyOptions(userVerification: UserVerification.none, preferSecureHardware: true),
                                    tlsPins: SharedConfig.tlsPins,
                                    approvalKey: KeyOptions(userVerification: .biometric, preferSecureHardware: true))
        return try await authenticator.enrollWith(uri: uri, device: device, push: push, options: options)
    }

    /// Approves `txn` after the consent screen showed `shown`: only in the foreground, only when
    /// the SDK's consent text is what the screen showed, and only after one Face ID / Touch ID
    /// evaluation whose reason names the binding message; that same evaluated `LAContext` is what
    /// the approval key signs with (kSecUseAuthenticationContext).
    func approve(_ txn: Transaction, shown: ConsentLines) async throws -> DecisionStatus {
        let active = await MainActor.run { UIApplication.shared.applicationState == .active }
        guard active else { throw FlowError.notInForeground }
        guard !txn.view.userCodeRequired else { throw FlowError.userCodeUnsupported }
        guard shown == ConsentLines(view: txn.view),
              shown.matches(consentText: try consentText(txn: txn)) else { throw FlowError.consentMismatch }
        guard let account = try authenticator.accounts().first(where: { $0.id == txn.accountId }) else {
            throw AuthenticatorError.NotFound
        }
        guard let alias = account.approvalKeyAlias else { throw FlowError.noApprovalKey }
        if keys.isInvalidated(alias: alias) { throw AuthenticatorError.KeyInvalidated }

        let context = LAContext()
        context.localizedCancelTitle = L("approve.cancel")
        let reason = shown.bindingMessage.map { L("approve.reason.code", shown.clientName, $0) }
            ?? L("approve.reason", shown.clientName)
        do {
            _ = try await context.evaluatePolicy(.deviceOwnerAuthenticationWithBiometrics, localizedReason: reason)
        } catch let error as LAError {
            switch error.code {
            case .userCancel, .appCancel, .systemCancel, .userFallback: throw AuthenticatorError.UserCancelled
            case .biometryNotEnrolled: throw AuthenticatorError.KeyInvalidated
            case .biometryLockout: throw FlowError.biometryLockout
            case .authenticationFailed: throw AuthenticatorError.UserAuthenticationRequired
            default: throw FlowError.biometryUnavailable
            }
        }
        let amr = keys.approvalAMR(alias: alias, context: context)
        return try await keys.withApprovalContext(context, alias: alias) {
            try await authenticator.approve(txn: txn, amr: amr)
        }
    }

    /// Removes the account at the bank and here.
    func unenroll(_ account: Account) async throws {
        try await authenticator.unenroll(accountId: account.id)
    }

    /// Removes the account here only (a bank that revoked this phone, or a key that is gone).
    func forget(_ account: Account) throws {
        try authenticator.forgetAccount(accountId: account.id)
    }
    #endif
}
