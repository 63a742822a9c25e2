import SwiftUI

@main
struct CibaSampleApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            AccountsView()
                .environmentObject(appDelegate.model)
                // ciba-enroll://v1?issuer=…&code=… opened as a link (Info.plist CFBundleURLTypes).
                .onOpenURL { url in
                    appDelegate.model.openEnrollmentLink(url)
                }
        }
        .onChange(of: scenePhase) { phase in
            if phase == .active {
                Task { await appDelegate.model.becameActive() }
            } else {
                appDelegate.model.leftForeground()
            }
        }
    }
}
