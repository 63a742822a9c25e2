import AVFoundation
import SwiftUI

/// Link this phone to a bank: scan the enrollment QR code (`ciba-enroll://v1?issuer=…&code=…`), or
/// paste the link. Opening the link itself also enrolls (App.swift, `onOpenURL`).
struct EnrollView: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss
    @State private var camera = AVCaptureDevice.authorizationStatus(for: .video)
    @State private var pasted = ""
    @State private var scanned = false

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    switch camera {
                    case .authorized:
                        QRScannerView { code in
                            guard !scanned, code.lowercased().hasPrefix("ciba-enroll://") else { return }
                            scanned = true
                            Task {
                                await model.enroll(uri: code)
                                scanned = false
                            }
                        }
                        .frame(height: 280)
                        .accessibilityLabel(L("enroll.scanner"))
                    case .notDetermined:
                        Button(L("enroll.allowCamera")) {
                            Task {
                                _ = await AVCaptureDevice.requestAccess(for: .video)
                                camera = AVCaptureDevice.authorizationStatus(for: .video)
                            }
                        }
                    default:
                        Text(L("enroll.cameraDenied"))
                        Button(L("push.openSettings")) {
                            if let url = URL(string: UIApplication.openSettingsURLString) {
                                UIApplication.shared.open(url)
                            }
                        }
                    }
                } header: {
                    Text(L("enroll.scanHeader"))
                } footer: {
                    Text(L("enroll.scanFooter"))
                }
                Section {
                    TextField(L("enroll.pastePlaceholder"), text: $pasted)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                        .keyboardType(.URL)
                    Button(L("enroll.link")) {
                        Task { await model.enroll(uri: pasted.trimmingCharacters(in: .whitespacesAndNewlines)) }
                    }
                    .disabled(pasted.isEmpty || model.busy)
                } header: {
                    Text(L("enroll.pasteHeader"))
                }
                if model.busy {
                    Section { ProgressView(L("enroll.linking")) }
                }
                if let message = model.message {
                    Section { Text(message) }
                }
            }
            .navigationTitle(L("enroll.title"))
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button(L("common.cancel")) { dismiss() }
                }
            }
        }
    }
}
