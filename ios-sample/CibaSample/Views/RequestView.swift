import CibaAuthenticator
import SwiftUI

/// The consent screen: who asks, the binding message (to compare with what the client shows),
/// every scope and every authorization detail — exactly what the SDK's consent text covers
/// (`ConsentLines`). Approve asks for Face ID / Touch ID; Decline and "This wasn't me" do not.
struct RequestView: View {
    let request: PresentedRequest
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss

    private var lines: ConsentLines { ConsentLines(view: request.txn.view) }

    var body: some View {
        NavigationStack {
            List {
                Section {
                    Text(lines.clientName).font(.title2.bold())
                    Text(L("request.clientId", lines.clientId)).font(.caption).foregroundStyle(.secondary)
                } header: {
                    Text(L("request.from"))
                }

                if let code = lines.bindingMessage {
                    Section {
                        Text(code)
                            .font(.system(.largeTitle, design: .monospaced).bold())
                            .textSelection(.enabled)
                            // VoiceOver reads the code one character at a time.
                            .accessibilityLabel(ConsentLines.spelledOut(code))
                            .speechSpellsOutCharacters()
                            .accessibilityHint(L("request.bindingMessage.hint"))
                    } header: {
                        Text(L("request.bindingMessage"))
                    } footer: {
                        Text(L("request.bindingMessage.footer"))
                    }
                }

                Section {
                    if lines.scopes.isEmpty {
                        Text(L("request.scopes.none")).foregroundStyle(.secondary)
                    }
                    ForEach(lines.scopes, id: \.self) { scope in
                        Text(scope).font(.body.monospaced())
                    }
                } header: {
                    Text(L("request.scopes"))
                }

                if !lines.details.isEmpty || lines.unreadableDetails != nil {
                    Section {
                        ForEach(lines.details) { detail in
                            VStack(alignment: .leading) {
                                Text(detail.label).font(.caption).foregroundStyle(.secondary)
                                Text(detail.value).textSelection(.enabled)
                            }
                            .accessibilityElement(children: .combine)
                        }
                        if let raw = lines.unreadableDetails {
                            Text(raw).font(.caption.monospaced())
                            Text(L("request.details.unreadable")).foregroundStyle(.red)
                        }
                    } header: {
                        Text(L("request.details"))
                    }
                }

                Section {
                    HStack {
                        Text(L("request.expires"))
                        Spacer()
                        Text(lines.expiresAt, style: .relative)
                    }
                    if lines.userCodeRequired {
                        Text(L("error.flow.userCodeUnsupported")).foregroundStyle(.orange)
                    }
                }

                Section {
                    Button {
                        Task { await model.approve(request, shown: lines) }
                    } label: {
                        Label(L("request.approve"), systemImage: "faceid")
                    }
                    .disabled(model.busy || lines.userCodeRequired || lines.unreadableDetails != nil)

                    Button(L("request.decline")) {
                        Task { await model.deny(request, reason: .userDeclined) }
                    }
                    .disabled(model.busy)

                    Button(L("request.notMe"), role: .destructive) {
                        Task { await model.deny(request, reason: .notRecognized) }
                    }
                    .disabled(model.busy)
                } footer: {
                    Text(L("request.notMe.footer"))
                }

                if let message = model.message {
                    Section { Text(message) }
                }
            }
            .navigationTitle(L("request.title"))
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button(L("common.close")) { dismiss() }
                }
            }
            .overlay { if model.busy { ProgressView() } }
        }
        .interactiveDismissDisabled(model.busy)
    }
}
