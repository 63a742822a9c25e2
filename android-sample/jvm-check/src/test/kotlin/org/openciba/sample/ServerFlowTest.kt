package org.openciba.sample

import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.openciba.authenticator.Account
import org.openciba.authenticator.AccountState
import org.openciba.authenticator.Authenticator
import org.openciba.authenticator.AuthenticatorException
import org.openciba.authenticator.DeviceInfo
import org.openciba.authenticator.EnrollOptions
import org.openciba.authenticator.KeyOptions
import org.openciba.authenticator.Platform
import org.openciba.authenticator.PushEnvironment
import org.openciba.authenticator.PushProvider
import org.openciba.authenticator.PushRegistration
import org.openciba.authenticator.Transaction
import org.openciba.authenticator.UserVerification
import org.openciba.authenticator.defaultAuthenticatorConfig
import org.openciba.authenticator.sdkVersion
import org.openciba.sample.logic.ConsentLines
import org.openciba.sample.logic.EnrollLink
import org.openciba.sample.logic.Message
import org.openciba.sample.logic.NextStep
import org.openciba.sample.logic.Outcome
import org.openciba.sample.logic.PushTokenSync
import org.openciba.sample.logic.RequestFlow
import org.openciba.sample.logic.RequestState
import org.openciba.sample.logic.UserGate

/**
 * The sample's logic against the real server and the real SDK (native library through JNA):
 * enrollment from a link, a wake-up through (mock) FCM, the consent screen, approval and denial,
 * and what the app shows when things go wrong.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ServerFlowTest {
    private lateinit var fcm: MockFcm
    private lateinit var server: SampleServer
    private lateinit var client: SampleServer.Client
    private var users = 0

    /** The biometric prompt, approved by the user (the phone's BiometricGate shows the real one). */
    private val userApproves = UserGate { listOf("user") }

    @BeforeAll
    fun start() {
        fcm = MockFcm()
        server = SampleServer(fcm)
        client = server.createClient("Bank of Tests")
    }

    @AfterAll
    fun stop() {
        if (::server.isInitialized) server.close()
        if (::fcm.isInitialized) fcm.close()
    }

    private fun device(name: String) = DeviceInfo(
        displayName = name, platform = Platform.ANDROID, model = "JVM", osVersion = "15",
        appVersion = "sample", sdkVersion = sdkVersion(),
    )

    /** A phone: its own key store, accounts and SDK instance, like one installed app. */
    inner class Phone(val name: String = "Pixel", val keys: JcaKeys = JcaKeys()) {
        val authenticator = Authenticator(MemoryAccounts(), keys, defaultAuthenticatorConfig())
        val flow = RequestFlow(authenticator, userApproves)
        var fcmToken = "fcm-token-$name-${System.nanoTime()}"

        /** Scans the user's enrollment QR code: the link goes through EnrollLink, then the SDK. */
        fun enroll(userId: String, target: SampleServer = server, approvalKey: Boolean = false): Account = runBlocking {
            val link = EnrollLink.parse(target.enrollmentUri(userId))
            assertNotNull(link)
            assertEquals("127.0.0.1", link!!.issuerHost)
            val options = EnrollOptions(
                key = KeyOptions(userVerification = UserVerification.NONE, preferSecureHardware = true),
                approvalKey = if (approvalKey) KeyOptions(UserVerification.BIOMETRIC, true) else null,
            )
            authenticator.enrollWith(
                link.uri, device(name),
                PushRegistration(provider = PushProvider.FCM, token = fcmToken, environment = PushEnvironment.PRODUCTION),
                options,
            )
        }
    }

    private fun newUser(): Pair<String, String> {
        val username = "user${++users}"
        return username to server.createUser(username)
    }

    /** A request for [username], delivered to the phone through FCM: the flow's transaction. */
    private fun pushed(phone: Phone, username: String, extra: Map<String, String> = emptyMap()): Pair<String, Transaction> {
        val authReqId = server.backchannel(client, username, extra)
        val message = fcm.nextMessage()
        assertEquals(phone.fcmToken, message.getString("token"))
        val data = message.getJSONObject("data").let { d -> d.keys().asSequence().associateWith { d.getString(it) } }
        val txn = runBlocking { phone.flow.onPush(data) }
        assertNotNull(txn, "the FCM data map is a wake-up push")
        return authReqId to txn!!
    }

    @Test
    fun `a pushed request is shown with everything its approval signs, approved, and the client gets tokens`() = runBlocking {
        val phone = Phone()
        val (username, userId) = newUser()
        phone.enroll(userId)
        val details = JSONArray().put(
            JSONObject().put("type", "payment_initiation")
                .put("instructedAmount", JSONObject().put("currency", "EUR").put("amount", "123.50"))
                .put("creditorName", "Merchant A"),
        )
        val (authReqId, txn) = pushed(
            phone, username,
            mapOf("binding_message" to "W4-7QX", "scope" to "openid accounts payments", "authorization_details" to details.toString()),
        )
        // The data map holds only the version, the issuer and the transaction id: no personal data.
        val state = phone.flow.open(txn)
        state as RequestState.Showing
        val lines = state.lines
        assertEquals("Bank of Tests", lines.client)
        assertEquals(setOf("openid", "accounts", "payments"), lines.scopes.toSet())
        assertEquals("W4-7QX", lines.bindingMessage)
        assertEquals("W 4 - 7 Q X", lines.spokenBindingMessage)
        assertEquals(
            listOf(
                "[0].creditorName" to "Merchant A",
                "[0].instructedAmount.amount" to "123.50",
                "[0].instructedAmount.currency" to "EUR",
                "[0].type" to "payment_initiation",
            ),
            lines.details,
        )
        // Every line shown is in the consent text the approval signs (the SDK's, not rebuilt here).
        for (value in listOf(client.id, "W4-7QX", "EUR", "123.50", "Merchant A")) {
            assertTrue(state.consentText.contains(value), "$value not in ${state.consentText}")
        }

        val decided = phone.flow.approve(txn)
        assertEquals(RequestState.Decided(txn, Outcome.APPROVED), decided)
        assertTrue(phone.flow.inbox.pending().isEmpty())
        val (status, tokens) = server.poll(client, authReqId)
        assertEquals(200, status, tokens.toString())
        // What the server verified for this device (a key with no attestation), not what the app claimed.
        assertEquals(listOf("swk"), SampleServer.claims(tokens.getString("id_token")).getJSONArray("amr").toList())
    }

    @Test
    fun `the Keystore's attestation chain reaches the server, which checks it against the enrolled key`() = runBlocking {
        // A real Key Attestation chain published by others (tests/fixtures/attestation): it
        // verifies to Google's root, and is refused as unverified because its key is not this
        // enrollment's key (a JVM key cannot be attested): the field reached the server and was checked.
        val pem = java.io.File(System.getProperty("ciba.fixtures"), "attestation/android/pixel3-blueline-sdk28-km4-tee-ec-factory/chain.pem")
        val chain = java.security.cert.CertificateFactory.getInstance("X.509")
            .generateCertificates(pem.inputStream()).toTypedArray()
        val phone = Phone("attesting", JcaKeys(chain))
        val (_, userId) = newUser()
        val account = phone.enroll(userId)
        assertEquals("unverified", account.attestation?.status)
        assertEquals("key_mismatch", account.attestation?.reason)
        assertEquals(listOf("swk"), account.attestation?.amr)
        // The key was made with the enrollment's challenge, SHA-256("ciba-attestation-v1" || 0 || code).
        assertEquals(32, phone.keys.lastChallenge?.size)
        // Without a chain, the server records no attestation.
        val plain = Phone("plain")
        assertEquals("none", plain.enroll(newUser().second).attestation?.status)
    }

    @Test
    fun `deny, and not me, which the bank's audit log records as a fraud report`() = runBlocking {
        val phone = Phone()
        val (username, userId) = newUser()
        phone.enroll(userId)
        val (first, txn1) = pushed(phone, username)
        assertEquals(RequestState.Decided(txn1, Outcome.DENIED), phone.flow.deny(txn1, notMe = false))
        assertEquals("access_denied", server.poll(client, first).second.getString("error"))

        val (second, txn2) = pushed(phone, username)
        assertEquals(RequestState.Decided(txn2, Outcome.REPORTED_NOT_ME), phone.flow.deny(txn2, notMe = true))
        assertEquals("access_denied", server.poll(client, second).second.getString("error"))
        assertTrue("fraud_reported" in server.auditKinds(userId), server.auditKinds(userId).toString())
        server.unlockUser(userId)
    }

    @Test
    fun `a request that expired, and one decided on the user's other phone, are dismissed`() = runBlocking {
        val (username, userId) = newUser()
        val phone = Phone("A")
        val other = Phone("B")
        phone.enroll(userId)
        other.enroll(userId)

        server.backchannel(client, username)
        fcm.nextMessage()
        fcm.nextMessage()
        val onA = phone.flow.refresh().single()
        val onB = other.flow.refresh().single()
        assertEquals(onA.view.id, onB.view.id)
        assertEquals(RequestState.Decided(onA, Outcome.APPROVED), phone.flow.approve(onA))
        val late = other.flow.approve(onB)
        assertEquals(Message.ERROR_ALREADY_DECIDED, (late as RequestState.Failed).error.message)
        assertEquals(NextStep.DISMISS, late.error.next)
        assertTrue(other.flow.inbox.pending().isEmpty())

        server.backchannel(client, username, mapOf("requested_expiry" to "1"))
        fcm.nextMessage()
        fcm.nextMessage()
        val expiring = phone.flow.refresh().single()
        Thread.sleep(2100)
        val expired = phone.flow.approve(expiring)
        assertEquals(Message.ERROR_EXPIRED, (expired as RequestState.Failed).error.message)
        assertTrue(phone.flow.inbox.pending().isEmpty())
    }

    @Test
    fun `a revoked device and an invalidated approval key lead to the link-again screen`() = runBlocking {
        val (username, userId) = newUser()
        val revoked = Phone("revoked")
        val account = revoked.enroll(userId)
        val (_, txn) = pushed(revoked, username)
        server.revokeDevice(account.deviceId)
        assertEquals(RequestState.Relink(account.id, AccountState.REVOKED), revoked.flow.approve(txn))

        val (username2, userId2) = newUser()
        val phone = Phone("biometric")
        val second = phone.enroll(userId2, approvalKey = true)
        val approvalAlias = checkNotNull(second.approvalKeyAlias) { "no approval key" }
        assertEquals(UserVerification.BIOMETRIC, phone.keys.options[approvalAlias]?.userVerification)
        val (_, txn2) = pushed(phone, username2)
        phone.keys.invalidate(approvalAlias)
        assertEquals(RequestState.Relink(second.id, AccountState.NEEDS_REENROLLMENT), phone.flow.approve(txn2))
        // The account key still works: the request can still be declined.
        assertEquals(RequestState.Decided(txn2, Outcome.DENIED), phone.flow.deny(txn2, notMe = false))
    }

    @Test
    fun `two accounts on one issuer, and a request arriving by push and by pending is listed once`() = runBlocking {
        val phone = Phone()
        val (alice, aliceId) = newUser()
        val (bob, bobId) = newUser()
        val a = phone.enroll(aliceId)
        val b = phone.enroll(bobId)
        assertEquals(listOf(a.id, b.id), phone.authenticator.accounts().map { it.id })

        val (_, forAlice) = pushed(phone, alice)
        assertEquals(a.id, forAlice.accountId)
        server.backchannel(client, bob)
        fcm.nextMessage()
        val pending = phone.flow.refresh()
        assertEquals(2, pending.size, pending.toString())
        assertEquals(listOf(forAlice.view.id), pending.filter { it.accountId == a.id }.map { it.view.id })
        assertEquals(1, pending.count { it.accountId == b.id })
    }

    @Test
    fun `a rotated push token reaches every account, the one that failed on a later retry`() = runBlocking {
        val elsewhere = SampleServer()
        try {
            val phone = Phone()
            val (_, userId) = newUser()
            val here = phone.enroll(userId)
            val there = phone.enroll(elsewhere.createUser("carol"), target = elsewhere)
            val pending = MemoryPendingToken()
            val sync = PushTokenSync(phone.authenticator, pending)

            elsewhere.stop()
            val first = sync.onNewToken("fcm-token-rotated")
            assertEquals(listOf(here.id), first.updated)
            assertTrue(first.failed.getValue(there.id) is AuthenticatorException.Network, first.failed.toString())
            assertTrue(first.retryLater)
            assertEquals("fcm-token-rotated", pending.load())

            elsewhere.start()
            val second = checkNotNull(sync.retry()) { "nothing was pending" }
            assertEquals(setOf(here.id, there.id), second.updated.toSet())
            assertNull(pending.load())
            assertNull(sync.retry())
            assertEquals(
                listOf("fcm-token-rotated", "fcm-token-rotated"),
                phone.authenticator.accounts().map { it.push.token },
            )
        } finally {
            elsewhere.close()
        }
    }

    private fun JSONArray.toList(): List<Any> = (0 until length()).map { get(it) }
}
