// Compiled into the app and the Notification Service Extension (project.yml).
import CibaAuthenticator
import Foundation

/// What the consent screen shows for a transaction: exactly the fields the SDK's consent text
/// covers (`consentText(txn:)`, DEVICE-PROTOCOL.md §6) — the client, every scope value, the
/// binding message, and every leaf of the authorization details — read from the SDK's
/// `TransactionView`. It does not rebuild the consent string or its hash: `matches(consentText:)`
/// reads the SDK's text and confirms that each of its lines is on screen, and `RequestFlow` refuses
/// to approve when it is not.
struct ConsentLines: Equatable {
    /// One leaf of the authorization details: its path (`["0", "instructedAmount", "amount"]`) and
    /// its value as text.
    struct Detail: Equatable, Identifiable, Hashable {
        let path: [String]
        let value: String
        var id: String { path.joined(separator: "\u{1F}") }
        /// `1 · instructedAmount · amount`: array indexes counted from 1.
        var label: String {
            path.map { part in Int(part).map { String($0 + 1) } ?? part }.joined(separator: " · ")
        }
    }

    let clientName: String
    let clientId: String
    /// Every scope value, in the order the server listed them.
    let scopes: [String]
    let bindingMessage: String?
    /// Every leaf of `authorizationDetails`, in key order; empty objects and arrays are leaves too.
    let details: [Detail]
    /// The authorization details as sent, when they are not JSON (shown as they are, and
    /// `matches` fails, so the request cannot be approved).
    let unreadableDetails: String?
    let userCodeRequired: Bool
    let expiresAt: Date

    init(view: TransactionView) {
        clientName = view.client.name
        clientId = view.client.clientId
        scopes = view.scope
        bindingMessage = view.bindingMessage
        userCodeRequired = view.userCodeRequired
        expiresAt = Date(timeIntervalSince1970: TimeInterval(view.expiresAt))
        if let text = view.authorizationDetails {
            if let leaves = Self.leaves(ofJSON: text) {
                details = leaves
                unreadableDetails = nil
            } else {
                details = []
                unreadableDetails = text
            }
        } else {
            details = []
            unreadableDetails = nil
        }
    }

    /// Whether the SDK's consent text covers exactly what this screen shows: the format line, the
    /// client id, the same scope values, the same binding message and the same detail leaves.
    func matches(consentText: String) -> Bool {
        let lines = consentText.components(separatedBy: "\n")
        // The first three lines and the last are fixed; the binding message is what lies between
        // (JCS output has no raw newline, a binding message might).
        guard lines.count >= 5, lines[0] == "ciba-consent-v1", lines[1] == clientId else { return false }
        let shownScopes = Set(scopes)
        let signedScopes = Set(lines[2].split(separator: " ", omittingEmptySubsequences: true).map(String.init))
        guard shownScopes == signedScopes else { return false }
        let signedMessage = lines[3..<(lines.count - 1)].joined(separator: "\n")
        guard signedMessage == (bindingMessage ?? "") else { return false }
        let signedDetails = lines[lines.count - 1]
        if unreadableDetails != nil { return false }
        if signedDetails.isEmpty { return details.isEmpty }
        guard let signedLeaves = Self.leaves(ofJSON: signedDetails) else { return false }
        return Set(signedLeaves) == Set(details) && signedLeaves.count == details.count
    }

    /// The binding message for VoiceOver: one character at a time ("W, 4, dash, 7, Q, X" rather
    /// than a word), so the user can compare it with what the client shows.
    static func spelledOut(_ message: String) -> String {
        message.map { character -> String in
            switch character {
            case "-": return L("a11y.dash")
            case " ": return L("a11y.space")
            default: return String(character)
            }
        }.joined(separator: ", ")
    }

    // MARK: JSON leaves

    static func leaves(ofJSON text: String) -> [Detail]? {
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return nil
        }
        var out: [Detail] = []
        collect(object, path: [], into: &out)
        return out
    }

    private static func collect(_ value: Any, path: [String], into out: inout [Detail]) {
        switch value {
        case let object as [String: Any]:
            if object.isEmpty { out.append(Detail(path: path, value: "{}")) }
            for key in object.keys.sorted() {
                collect(object[key]!, path: path + [key], into: &out)
            }
        case let array as [Any]:
            if array.isEmpty { out.append(Detail(path: path, value: "[]")) }
            for (index, element) in array.enumerated() {
                collect(element, path: path + [String(index)], into: &out)
            }
        case let string as String:
            out.append(Detail(path: path, value: string))
        case let number as NSNumber:
            out.append(Detail(path: path, value: format(number)))
        case is NSNull:
            out.append(Detail(path: path, value: "null"))
        default:
            out.append(Detail(path: path, value: String(describing: value)))
        }
    }

    /// Numbers as JSON writes them: `true`/`false`, integers without a fraction, others in the
    /// shortest form that reads back the same double (the form RFC 8785 signs).
    private static func format(_ number: NSNumber) -> String {
        if CFGetTypeID(number) == CFBooleanGetTypeID() { return number.boolValue ? "true" : "false" }
        let double = number.doubleValue
        if double.rounded() == double, abs(double) < 1e15 { return String(Int64(double)) }
        return "\(double)"
    }
}
