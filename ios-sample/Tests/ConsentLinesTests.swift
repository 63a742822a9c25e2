@testable import CibaSample
import CibaAuthenticator
import XCTest

/// The consent screen shows every field the SDK's consent text covers.
final class ConsentLinesTests: XCTestCase {
    private func transaction(details: String?, message: String? = "W4-7QX",
                             scope: [String] = ["openid", "payments"]) -> Transaction {
        Transaction(accountId: "acc_1", view: TransactionView(
            id: "txn_abc", status: .pending,
            client: ClientView(clientId: "client-1", name: "Customer Service Console", logoUri: nil),
            scope: scope, acrValues: [], bindingMessage: message, authorizationDetails: details,
            userCodeRequired: false, requestedAt: 1_790_000_000, expiresAt: 1_790_000_300,
            challenge: "AAAA"))
    }

    private let payment = #"[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"123.50"},"creditorName":"Merchant A","locations":["https://bank.example/payments"]}]"#

    func testEveryLeafOfTheAuthorizationDetails() {
        let lines = ConsentLines(view: transaction(details: payment).view)
        XCTAssertEqual(lines.clientName, "Customer Service Console")
        XCTAssertEqual(lines.scopes, ["openid", "payments"])
        XCTAssertEqual(lines.bindingMessage, "W4-7QX")
        XCTAssertEqual(Set(lines.details.map(\.value)),
                       ["payment_initiation", "EUR", "123.50", "Merchant A", "https://bank.example/payments"])
        XCTAssertEqual(lines.details.count, 5)
        XCTAssertTrue(lines.details.contains { $0.path == ["0", "instructedAmount", "amount"] })
    }

    func testMatchesTheSdksConsentText() throws {
        let txn = transaction(details: payment)
        let lines = ConsentLines(view: txn.view)
        XCTAssertTrue(lines.matches(consentText: try consentText(txn: txn)))
        let noDetails = transaction(details: nil, message: nil, scope: [])
        XCTAssertTrue(ConsentLines(view: noDetails.view).matches(consentText: try consentText(txn: noDetails)))
    }

    func testRefusesATextThatCoversSomethingElse() throws {
        let shown = ConsentLines(view: transaction(details: payment).view)
        let other = transaction(details: payment, message: "ZZ-0000")
        XCTAssertFalse(shown.matches(consentText: try consentText(txn: other)))
        let moreScopes = transaction(details: payment, scope: ["openid", "payments", "accounts"])
        XCTAssertFalse(shown.matches(consentText: try consentText(txn: moreScopes)))
        let otherAmount = transaction(details: payment.replacingOccurrences(of: "123.50", with: "923.50"))
        XCTAssertFalse(shown.matches(consentText: try consentText(txn: otherAmount)))
    }

    func testUnreadableDetailsCannotBeApproved() {
        let lines = ConsentLines(view: transaction(details: "not json").view)
        XCTAssertEqual(lines.unreadableDetails, "not json")
        XCTAssertFalse(lines.matches(consentText: "ciba-consent-v1\nclient-1\nopenid payments\nW4-7QX\nnot json"))
    }

    func testVoiceOverSpellsTheBindingMessage() {
        XCTAssertEqual(ConsentLines.spelledOut("W4-7Q").components(separatedBy: ", ").count, 5)
    }
}
