import CibaAuthenticator
import SwiftUI
import UserNotifications

/// A request on screen.
struct PresentedRequest: Identifiable, Equatable {
    let txn: Transaction
    var id: String { txn.view.id }
}

/// An account that must be linked again, and why.
struct LinkAgainTarget: Identifiable, Equatable {
    let account: Account
    let reason: LinkAgainReason
    var id: String { account.id }
}

/// The app's state: accounts, their states, pending requests, what is on screen.
@MainActor
final class AppModel: ObservableObject {
    @Published private(set) var accounts: [Account] = []
    @Published private(set) var states: [String: AccountState] = [:]
    @Published private(set) var pending: [Transaction] = []
    @Published var presented: PresentedRequest?
    @Published var linkAgain: LinkAgainTarget?
    @Published var showingEnroll = false
    @Published var message: String?
    /// Notifications refused or APNs registration failed: the app polls `pending()` while open.
    @Published private(set) var pushesOff = false
    @Published private(set) var busy = false
    @Published private(set) var notificationLog: [NotificationLog.Entry] = []

    let flow: RequestFlow?
    let startupError: String?
    private var polling: Task<Void, Never>?
    private static let tokenKey = "ciba.apnsToken"
    private static let tokenSentKey = "ciba.apnsTokenSent"
    private static let pollInterval: UInt64 = 20

    init() {
        do {
            flow = try RequestFlow.live()
            startupError = nil
        } catch {
            flow = nil
            startupError = ErrorText.message(for: error)
        }
    }

    // MARK: Lifecycle

    func becameActive() async {
        await checkNotificationSettings()
        await refresh()
        notificationLog = NotificationLog.all()
        if pushesOff { startPolling() }
    }

    func leftForeground() {
        polling?.cancel()
        polling = nil
    }

    func refresh() async {
        guard let flow else { return }
        do {
            accounts = try flow.allAccounts()
            states = await flow.states(of: accounts)
            pending = try await flow.pending()
        } catch {
            show(error, bank: nil)
        }
    }

    /// A push can be lost; with notifications off every request is missed without this.
    private func startPolling() {
        guard polling == nil else { return }
        polling = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: Self.pollInterval * 1_000_000_000)
                guard let self, !Task.isCancelled, self.pushesOff else { break }
                await self.refresh()
            }
        }
    }

    // MARK: Notifications and the push token

    func setUpNotifications() async {
        let center = UNUserNotificationCenter.current()
        let granted = (try? await center.requestAuthorization(options: [.alert, .sound, .badge])) ?? false
        pushesOff = !granted
        if granted {
            UIApplication.shared.registerForRemoteNotifications()
        } else {
            await tellServersWePoll()
        }
    }

    private func checkNotificationSettings() async {
        let settings = await UNUserNotificationCenter.current().notificationSettings()
        switch settings.authorizationStatus {
        case .authorized, .provisional, .ephemeral:
            if pushesOff || UserDefaults.standard.string(forKey: Self.tokenKey) == nil {
                UIApplication.shared.registerForRemoteNotifications()
            }
            pushesOff = false
        case .denied:
            pushesOff = true
            await tellServersWePoll()
        case .notDetermined:
            break   // setUpNotifications asks
        @unknown default:
            pushesOff = true
        }
    }

    func pushTokenReceived(_ token: String) async {
        UserDefaults.standard.set(token, forKey: Self.tokenKey)
        pushesOff = false
        polling?.cancel()
        polling = nil
        guard UserDefaults.standard.string(forKey: Self.tokenSentKey) != token else { return }
        let environment: PushEnvironment = SharedConfig.apnsEnvironmentIsSandbox ? .sandbox : .production
        await sendPush(PushRegistration(provider: .apns, token: token, environment: environment), marker: token)
    }

    func pushRegistrationFailed(_ error: Error) {
        pushesOff = true
        startPolling()
    }

    /// Notifications are off: the banks should not push to a token that shows nothing.
    private func tellServersWePoll() async {
        guard UserDefaults.standard.string(forKey: Self.tokenSentKey) != "none", !accounts.isEmpty else { return }
        let environment: PushEnvironment = SharedConfig.apnsEnvironmentIsSandbox ? .sandbox : .production
        UserDefaults.standard.removeObject(forKey: Self.tokenKey)
        await sendPush(PushRegistration(provider: PushProvider.none, token: nil, environment: environment), marker: "none")
    }

    /// Sends the registration to every account's bank; remembered as sent only when every bank
    /// took it, so a failed one is retried at the next token callback or launch.
    private func sendPush(_ push: PushRegistration, marker: String) async {
        guard let flow, !((try? flow.allAccounts()) ?? []).isEmpty else { return }
        do {
            let updates = try await flow.updatePushToken(push)
            if updates.allSatisfy({ $0.error == nil }) {
                UserDefaults.standard.set(marker, forKey: Self.tokenSentKey)
            }
        } catch {
            // Retried next time; nothing to show (core/README.md: "nothing; retry failed accounts later").
        }
    }

    // MARK: Enrollment

    func openEnrollmentLink(_ url: URL) {
        guard url.scheme?.lowercased() == "ciba-enroll" else { return }
        Task { await enroll(uri: url.absoluteString) }
    }

    func enroll(uri: String) async {
        guard let flow else { return }
        busy = true
        defer { busy = false }
        do {
            let account = try await flow.enroll(uri: uri, apnsToken: UserDefaults.standard.string(forKey: Self.tokenKey))
            showingEnroll = false
            message = L("enroll.linked", account.accountLabel)
            await refresh()
        } catch {
            show(error, bank: nil)
        }
    }

    // MARK: Requests

    func open(push: ApnsPayload) async {
        guard let flow else { return }
        do {
            let txn = try await flow.handle(push: push)
            presented = PresentedRequest(txn: txn)
        } catch AuthenticatorError.UnknownIssuer {
            // Not one of our banks' pushes: drop it (core/README.md).
        } catch AuthenticatorError.InvalidInput {
            // Malformed: drop it.
        } catch {
            show(error, bank: nil)
        }
    }

    func declineFromNotification(_ push: ApnsPayload) async {
        guard let flow else { return }
        do {
            let txn = try await flow.handle(push: push)
            _ = try await flow.deny(txn, reason: .userDeclined)
            message = L("request.declined")
        } catch AuthenticatorError.UnknownIssuer {
            // Not ours: nothing to decline.
        } catch AuthenticatorError.InvalidInput {
            // Malformed: nothing to decline.
        } catch {
            show(error, bank: nil)
        }
        await refresh()
    }

    func present(_ txn: Transaction) {
        presented = PresentedRequest(txn: txn)
    }

    /// Approve, from the consent screen only.
    func approve(_ request: PresentedRequest, shown: ConsentLines) async {
        guard let flow else { return }
        busy = true
        defer { busy = false }
        do {
            _ = try await flow.approve(request.txn, shown: shown)
            presented = nil
            message = L("request.approved")
        } catch {
            handleRequestError(error, txn: request.txn)
        }
        await refresh()
    }

    func deny(_ request: PresentedRequest, reason: DenyReason) async {
        guard let flow else { return }
        busy = true
        defer { busy = false }
        do {
            _ = try await flow.deny(request.txn, reason: reason)
            presented = nil
            message = reason == .notRecognized ? L("request.reported") : L("request.declined")
        } catch {
            handleRequestError(error, txn: request.txn)
        }
        await refresh()
    }

    private func handleRequestError(_ error: Error, txn: Transaction) {
        let account = accounts.first { $0.id == txn.accountId }
        switch RequestFlow.nextStep(after: error, bank: account?.accountLabel) {
        case .linkAgain(let reason):
            presented = nil
            if let account { linkAgain = LinkAgainTarget(account: account, reason: reason) }
        case .backToRequest:
            break   // nothing was sent; the request stays on screen
        case .promptAgain:
            message = L("error.userAuthenticationRequired")
        case .closeRequest(let text):
            presented = nil
            message = text
        case .show(let text):
            message = text
        }
    }

    // MARK: Accounts

    func state(of account: Account) -> AccountState? { states[account.id] }

    /// Opens the "link again" screen for an account that needs it.
    func openLinkAgain(_ account: Account) {
        switch states[account.id] {
        case .revoked?: linkAgain = LinkAgainTarget(account: account, reason: .revoked)
        case .needsReenrollment?:
            let biometric = account.approvalKeyAlias.map { flow?.keys.isInvalidated(alias: $0) ?? false } ?? false
            linkAgain = LinkAgainTarget(account: account, reason: biometric ? .biometricsChanged : .keyMissing)
        default: break
        }
    }

    /// Closes the "link again" screen, then opens the scanner (one sheet at a time).
    func linkAgainThenEnroll() {
        linkAgain = nil
        Task {
            try? await Task.sleep(nanoseconds: 600_000_000)
            showingEnroll = true
        }
    }

    func unenroll(_ account: Account) async {
        guard let flow else { return }
        do {
            try await flow.unenroll(account)
        } catch {
            show(error, bank: account.accountLabel)
        }
        await refresh()
    }

    func forget(_ account: Account) async {
        guard let flow else { return }
        do {
            try flow.forget(account)
            linkAgain = nil
        } catch {
            show(error, bank: account.accountLabel)
        }
        await refresh()
    }

    /// Where the account's keys live, as the accounts list says it.
    func keyLabel(for account: Account) -> String {
        switch flow?.keys.protection(alias: account.approvalKeyAlias ?? account.keyAlias) {
        case .secureEnclave?: return L("key.secureEnclave")
        case .softwareSimulator?: return L("key.softwareSimulator")
        case .softwareFallback?: return L("key.softwareFallback")
        case nil: return L("key.unknown")
        }
    }

    /// What the server verified at enrollment, and why nothing was attested when nothing was.
    func attestationLabel(for account: Account) -> String {
        let status = account.attestation?.status ?? "none"
        let text: String
        switch status {
        case "verified": text = L("attestation.verified")
        case "unverified": text = L("attestation.unverified")
        default: text = L("attestation.none")
        }
        if let fallback = flow?.keys.attestationFallback(alias: account.keyAlias) {
            return L("attestation.withFallback", text, fallback)
        }
        return text
    }

    private func show(_ error: Error, bank: String?) {
        message = ErrorText.message(for: error, bank: bank)
    }
}
