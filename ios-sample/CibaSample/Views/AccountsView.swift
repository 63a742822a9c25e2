import CibaAuthenticator
import SwiftUI

/// The accounts list: each linked bank account with its state and where its keys live, the
/// pending requests, and a banner when notifications are off (the app then polls while open).
struct AccountsView: View {
    @EnvironmentObject private var model: AppModel
    @State private var removing: Account?

    var body: some View {
        NavigationStack {
            List {
                if let startupError = model.startupError {
                    Section { Text(startupError).foregroundStyle(.red) }
                }
                if model.pushesOff {
                    Section {
                        Label(L("push.off"), systemImage: "bell.slash")
                        Button(L("push.openSettings")) {
                            if let url = URL(string: UIApplication.openSettingsURLString) {
                                UIApplication.shared.open(url)
                            }
                        }
                    }
                }
                pendingSection
                accountsSection
                logSection
            }
            .navigationTitle(L("accounts.title"))
            .toolbar {
                ToolbarItem(placement: .primaryAction) {
                    Button {
                        model.showingEnroll = true
                    } label: {
                        Label(L("accounts.add"), systemImage: "qrcode.viewfinder")
                    }
                }
            }
            .refreshable { await model.refresh() }
            .sheet(isPresented: $model.showingEnroll) { EnrollView() }
            .sheet(item: $model.presented) { request in RequestView(request: request) }
            .sheet(item: $model.linkAgain) { target in LinkAgainView(target: target) }
            .alert(L("accounts.remove.title"), isPresented: Binding(get: { removing != nil },
                                                                    set: { if !$0 { removing = nil } })) {
                Button(L("accounts.remove.confirm"), role: .destructive) {
                    if let account = removing { Task { await model.unenroll(account) } }
                    removing = nil
                }
                Button(L("common.cancel"), role: .cancel) { removing = nil }
            } message: {
                Text(L("accounts.remove.message", removing?.accountLabel ?? ""))
            }
            .overlay(alignment: .bottom) { messageBar }
        }
    }

    @ViewBuilder private var pendingSection: some View {
        Section {
            if model.pending.isEmpty {
                Text(L("pending.empty")).foregroundStyle(.secondary)
            }
            ForEach(model.pending, id: \.view.id) { txn in
                Button {
                    model.present(txn)
                } label: {
                    VStack(alignment: .leading) {
                        Text(txn.view.client.name).font(.headline)
                        if let code = txn.view.bindingMessage {
                            Text(code).font(.system(.body, design: .monospaced))
                                .accessibilityLabel(ConsentLines.spelledOut(code))
                        }
                    }
                }
            }
        } header: {
            Text(L("pending.title"))
        }
    }

    @ViewBuilder private var accountsSection: some View {
        Section {
            if model.accounts.isEmpty {
                Text(L("accounts.empty")).foregroundStyle(.secondary)
            }
            ForEach(model.accounts, id: \.id) { account in
                AccountRow(account: account, state: model.state(of: account),
                           keyLabel: model.keyLabel(for: account),
                           attestationLabel: model.attestationLabel(for: account))
                    .contentShape(Rectangle())
                    .onTapGesture { model.openLinkAgain(account) }
                    .swipeActions {
                        Button(L("accounts.remove"), role: .destructive) { removing = account }
                    }
            }
        } header: {
            Text(L("accounts.section"))
        }
    }

    @ViewBuilder private var logSection: some View {
        Section {
            DisclosureGroup(L("log.title")) {
                if model.notificationLog.isEmpty {
                    Text(L("log.empty")).foregroundStyle(.secondary)
                }
                ForEach(model.notificationLog) { entry in
                    VStack(alignment: .leading) {
                        Text(entry.transactionId).font(.caption.monospaced())
                        Text(entry.detailed ? L("log.detailed") : L("log.generic", entry.reason ?? ""))
                            .font(.caption)
                        Text(entry.date, style: .relative).font(.caption2).foregroundStyle(.secondary)
                    }
                }
            }
        }
    }

    @ViewBuilder private var messageBar: some View {
        if let message = model.message {
            Text(message)
                .padding()
                .frame(maxWidth: .infinity)
                .background(.thinMaterial)
                .onTapGesture { model.message = nil }
                .accessibilityAddTraits(.isButton)
                .accessibilityHint(L("common.dismissHint"))
        }
    }
}

private struct AccountRow: View {
    let account: Account
    let state: AccountState?
    let keyLabel: String
    let attestationLabel: String

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(account.accountLabel).font(.headline)
            if let name = account.userDisplayName { Text(name).font(.subheadline) }
            Text(account.issuer).font(.caption).foregroundStyle(.secondary)
            Label(keyLabel, systemImage: "key").font(.caption)
            Label(attestationLabel, systemImage: "checkmark.seal").font(.caption)
            switch state {
            case .active?:
                Label(L("state.active"), systemImage: "checkmark.circle").font(.caption).foregroundStyle(.green)
            case .revoked?:
                Label(L("state.revoked"), systemImage: "xmark.octagon").font(.caption).foregroundStyle(.red)
            case .needsReenrollment?:
                Label(L("state.needsReenrollment"), systemImage: "arrow.triangle.2.circlepath")
                    .font(.caption).foregroundStyle(.orange)
            case nil:
                Label(L("state.unknown"), systemImage: "questionmark.circle").font(.caption)
            }
        }
        .accessibilityElement(children: .combine)
    }
}
