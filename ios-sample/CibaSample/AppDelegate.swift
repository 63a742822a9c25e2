import CibaAuthenticator
import SwiftUI
import UserNotifications

/// APNs registration and the notification categories; the notification center's delegate. A tap
/// opens the request's consent screen; the Decline action declines without opening the app. There
/// is no approve action: approving happens only on the consent screen, in the foreground.
@MainActor
final class AppDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate {
    let model = AppModel()

    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        let center = UNUserNotificationCenter.current()
        center.delegate = self
        center.setNotificationCategories([Self.requestCategory()])
        Task { await model.setUpNotifications() }
        return true
    }

    /// The category the Notification Service Extension sets on request notifications.
    static func requestCategory() -> UNNotificationCategory {
        let deny = UNNotificationAction(identifier: NotificationIDs.denyAction,
                                        title: L("notification.action.deny"),
                                        options: [.destructive, .authenticationRequired])
        return UNNotificationCategory(identifier: NotificationIDs.requestCategory, actions: [deny],
                                      intentIdentifiers: [],
                                      hiddenPreviewsBodyPlaceholder: L("notification.hiddenPreview"),
                                      options: [])
    }

    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        let token = deviceToken.map { String(format: "%02x", $0) }.joined()
        Task { await model.pushTokenReceived(token) }
    }

    func application(_ application: UIApplication, didFailToRegisterForRemoteNotificationsWithError error: Error) {
        model.pushRegistrationFailed(error)
    }

    // MARK: UNUserNotificationCenterDelegate

    /// A request notification while the app is open: show it, and refresh the list.
    nonisolated func userNotificationCenter(_ center: UNUserNotificationCenter, willPresent notification: UNNotification,
                                            withCompletionHandler completionHandler: @escaping (UNNotificationPresentationOptions) -> Void) {
        let payload = ApnsPayload(userInfo: notification.request.content.userInfo)
        Task { @MainActor in
            if payload != nil { await self.model.refresh() }
            completionHandler([.banner, .list, .sound])
        }
    }

    /// The user tapped the notification (open the consent screen) or chose Decline (decline now,
    /// possibly in the background; declining needs no biometrics).
    nonisolated func userNotificationCenter(_ center: UNUserNotificationCenter, didReceive response: UNNotificationResponse,
                                            withCompletionHandler completionHandler: @escaping () -> Void) {
        let payload = ApnsPayload(userInfo: response.notification.request.content.userInfo)
        let action = response.actionIdentifier
        Task { @MainActor in
            if let payload {
                switch action {
                case NotificationIDs.denyAction:
                    await self.model.declineFromNotification(payload)
                case UNNotificationDefaultActionIdentifier:
                    await self.model.open(push: payload)
                default:
                    break   // dismissed: the request stays pending
                }
            }
            completionHandler()
        }
    }
}
