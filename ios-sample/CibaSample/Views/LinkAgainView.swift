import CibaAuthenticator
import SwiftUI

/// "Link this phone again": the account's key was invalidated (Face ID / Touch ID changed), is
/// gone (restored backup, new phone), or the bank revoked this phone. The account cannot approve
/// any more; the user scans a new code from the bank and may remove the old account here.
struct LinkAgainView: View {
    let target: LinkAgainTarget
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss

    private var explanation: String {
        switch target.reason {
        case .biometricsChanged: return L("linkAgain.biometricsChanged", target.account.accountLabel)
        case .keyMissing: return L("linkAgain.keyMissing", target.account.accountLabel)
        case .revoked: return L("linkAgain.revoked", target.account.accountLabel)
        }
    }

    var body: some View {
        NavigationStack {
            VStack(alignment: .leading, spacing: 20) {
                Image(systemName: "arrow.triangle.2.circlepath")
                    .font(.system(size: 48))
                    .accessibilityHidden(true)
                Text(L("linkAgain.title", target.account.accountLabel)).font(.title2.bold())
                Text(explanation)
                Text(L("linkAgain.steps"))
                Button {
                    model.linkAgainThenEnroll()
                } label: {
                    Label(L("linkAgain.scan"), systemImage: "qrcode.viewfinder")
                        .frame(maxWidth: .infinity)
                }
                .buttonStyle(.borderedProminent)
                Button(L("linkAgain.forget"), role: .destructive) {
                    Task { await model.forget(target.account) }
                }
                Spacer()
            }
            .padding()
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button(L("common.close")) { dismiss() }
                }
            }
        }
    }
}
