import CibaAuthenticator
import Foundation
import UserNotifications

/// Runs for each request notification (`mutable-content: 1`): fetches the request's details
/// through the SDK, signed with the account's proof-of-possession key (no prompt: the approval key
/// is never used here, and this target does not even contain `approve`), and shows who asks and
/// the binding message. It sets the request category so the Decline action appears. On any
/// failure, or when time runs out, the notification keeps the generic text the server sent.
final class NotificationService: UNNotificationServiceExtension {
    private let lock = NSLock()
    private var contentHandler: ((UNNotificationContent) -> Void)?
    private var generic: UNNotificationContent?
    private var work: Task<Void, Never>?

    override func didReceive(_ request: UNNotificationRequest,
                             withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void) {
        guard let payload = ApnsPayload(userInfo: request.content.userInfo),
              let generic = request.content.mutableCopy() as? UNMutableNotificationContent else {
            contentHandler(request.content)   // not a request of ours: untouched
            return
        }
        generic.categoryIdentifier = NotificationIDs.requestCategory
        generic.threadIdentifier = payload.issuer
        lock.lock()
        self.contentHandler = contentHandler
        self.generic = generic
        lock.unlock()

        work = Task { [weak self] in
            do {
                // Each server call gets less than the extension's ~30 s.
                let flow = try RequestFlow.live(timeout: 20)
                let txn = try await flow.handle(push: payload)
                let lines = ConsentLines(view: txn.view)
                guard let detailed = generic.mutableCopy() as? UNMutableNotificationContent else {
                    self?.deliver(nil)
                    return
                }
                detailed.title = L("notification.detailed.title", lines.clientName)
                detailed.body = lines.bindingMessage.map { L("notification.detailed.body.code", $0) }
                    ?? L("notification.detailed.body")
                NotificationLog.record(.init(date: Date(), transactionId: payload.transactionId,
                                             detailed: true, reason: nil))
                self?.deliver(detailed)
            } catch {
                NotificationLog.record(.init(date: Date(), transactionId: payload.transactionId,
                                             detailed: false, reason: String(describing: error)))
                self?.deliver(nil)
            }
        }
    }

    /// Out of time: the generic text, with the category.
    override func serviceExtensionTimeWillExpire() {
        work?.cancel()
        deliver(nil)
    }

    /// Hands `content` (or the generic text) to the system, once.
    private func deliver(_ content: UNNotificationContent?) {
        lock.lock()
        let handler = contentHandler
        let fallback = generic
        contentHandler = nil
        lock.unlock()
        guard let handler, let shown = content ?? fallback else { return }
        handler(shown)
    }
}
