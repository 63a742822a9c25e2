// Compiled into the app and the Notification Service Extension (project.yml).
import CibaAuthenticator
import Foundation
import LocalAuthentication

/// What the app shows for each error (core/README.md, "Lifecycle"). The switches are exhaustive
/// and name every case, so a new SDK error does not compile until it has a text.
enum ErrorText {
    /// The text for an SDK error; `bank` is the account's label when the error concerns one.
    static func message(for error: AuthenticatorError, bank: String? = nil) -> String {
        let bankName = bank ?? L("error.yourBank")
        switch error {
        case .Network:
            return L("error.network")
        case .UntrustedServer:
            return L("error.untrustedServer")
        case let .Server(status, code, _):
            switch code {
            case "invalid_enrollment_code": return L("error.enrollmentCodeExpired")
            case "attestation_failed": return L("error.attestationFailed")
            default: return L("error.generic", supportCode(status: status, code: code))
            }
        case .DeviceRevoked:
            return L("error.deviceRevoked", bankName)
        case .KeyMissing:
            return L("error.keyMissing", bankName)
        case .UserCancelled:
            return L("error.userCancelled")
        case .UserAuthenticationRequired:
            return L("error.userAuthenticationRequired")
        case .KeyInvalidated:
            return L("error.keyInvalidated", bankName)
        case .Expired:
            return L("error.expired")
        case .AlreadyDecided:
            return L("error.alreadyDecided")
        case .NotFound:
            return L("error.notFound")
        case .UnknownIssuer:
            return L("error.unknownIssuer")
        case .InvalidInput:
            return L("error.invalidInput")
        case .InsecureIssuer:
            return L("error.insecureIssuer")
        case .Storage:
            return L("error.generic", "storage")
        case .KeyStore:
            return L("error.generic", "keystore")
        case .Protocol:
            return L("error.generic", "protocol")
        }
    }

    /// The text for an error of the app's own key store, when the app meets one directly (outside
    /// an SDK call, e.g. reading a key's record for the accounts list).
    static func message(for error: KeyStoreError) -> String {
        switch error {
        case .NotFound:
            return L("error.keyMissing", L("error.yourBank"))
        case .AlreadyExists:
            return L("error.generic", "key-exists")
        case .InvalidAlias:
            return L("error.generic", "key-alias")
        case .KeyInvalidated:
            return L("error.keyInvalidated", L("error.yourBank"))
        case .UserCancelled:
            return L("error.userCancelled")
        case .UserAuthenticationRequired:
            return L("error.userAuthenticationRequired")
        case .Backend:
            return L("error.generic", "keystore")
        }
    }

    /// The text for a failure of the request flow itself.
    static func message(for error: FlowError) -> String {
        switch error {
        case .notInForeground: return L("error.flow.notInForeground")
        case .consentMismatch: return L("error.flow.consentMismatch")
        case .noApprovalKey: return L("error.flow.noApprovalKey")
        case .biometryUnavailable: return L("error.flow.biometryUnavailable")
        case .biometryLockout: return L("error.flow.biometryLockout")
        case .userCodeUnsupported: return L("error.flow.userCodeUnsupported")
        }
    }

    /// Any error the app meets.
    static func message(for error: Error, bank: String? = nil) -> String {
        switch error {
        case let error as AuthenticatorError: return message(for: error, bank: bank)
        case let error as KeyStoreError: return message(for: error)
        case let error as FlowError: return message(for: error)
        case let error as StoreError:
            switch error {
            case .Io, .Corrupt: return L("error.generic", "accounts")
            }
        default: return L("error.generic", "app")
        }
    }

    /// The support code of a server refusal without a dedicated text: `server-<status>-<error>`.
    static func supportCode(status: UInt16, code: String) -> String {
        "server-\(status)-\(code)"
    }
}
