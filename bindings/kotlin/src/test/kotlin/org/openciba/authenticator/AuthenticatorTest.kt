package org.openciba.authenticator

import java.util.Base64
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

/**
 * The whole device flow through the generated Kotlin bindings and the native library, against
 * the real server: the way a bank's Android app uses the SDK, with java.security keys standing
 * in for the Android Keystore.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AuthenticatorTest {
    private lateinit var server: TestServer
    private lateinit var client: TestServer.Client
    private val users = AtomicInteger()

    private val device = DeviceInfo(
        displayName = "JVM test phone",
        platform = Platform.ANDROID,
        model = "JVM",
        osVersion = System.getProperty("java.version"),
        appVersion = "1.0",
        sdkVersion = sdkVersion(),
    )
    private val noPush = PushRegistration(provider = PushProvider.NONE, token = null, environment = PushEnvironment.PRODUCTION)

    @BeforeAll
    fun startServer() {
        server = TestServer.start()
        client = server.createClient("Customer Service Console")
    }

    @AfterAll
    fun stopServer() {
        if (::server.isInitialized) server.close()
    }

    /** A new user at the bank, and a phone (fresh stores) enrolled for them. */
    private inner class Phone(
        val keys: JcaKeyStore = JcaKeyStore(),
        val accounts: AccountStore = MemoryAccountStore(),
    ) {
        val username = "user${users.incrementAndGet()}"
        val userId = server.createUser(username)
        val authenticator = Authenticator(accounts, keys, defaultAuthenticatorConfig())

        suspend fun enroll(): Account = authenticator.enroll(server.enrollmentUri(userId), device, noPush)
    }

    @Test
    fun `enroll, receive a request, approve it, and the client gets its tokens`() = runBlocking {
        val phone = Phone()
        val account = phone.enroll()
        assertEquals(server.issuer, account.issuer)
        assertEquals(listOf(account), phone.authenticator.accounts())
        assertEquals(1, phone.keys.size)

        val authReqId = server.backchannelAuthenticate(client, phone.username, "W4-7QX")
        val (early, earlyBody) = server.poll(client, authReqId)
        assertEquals(400, early)
        assertEquals("authorization_pending", earlyBody.getString("error"))

        val pending = phone.authenticator.pending()
        assertEquals(1, pending.size)
        val txn = pending.single()
        assertEquals(account.id, txn.accountId)
        assertEquals(TransactionStatus.PENDING, txn.view.status)
        assertEquals("Customer Service Console", txn.view.client.name)
        assertEquals("W4-7QX", txn.view.bindingMessage)
        assertEquals(setOf("openid", "accounts"), txn.view.scope.toSet())
        assertNull(txn.view.authorizationDetails)

        // What the app must display is what the approval signs over.
        assertEquals(
            listOf("ciba-consent-v1", client.id, "accounts openid", "W4-7QX", ""),
            consentText(txn).split("\n"),
        )

        assertEquals(DecisionStatus.APPROVED, phone.authenticator.approve(txn, listOf("hwk", "face")))

        val (status, tokens) = server.poll(client, authReqId)
        assertEquals(200, status, tokens.toString())
        assertEquals("Bearer", tokens.getString("token_type"))
        assertTrue(tokens.getString("access_token").isNotEmpty())
        val idToken = claims(tokens.getString("id_token"))
        assertEquals(server.issuer, idToken.getString("iss"))
        assertEquals(client.id, idToken.getString("aud"))
        // The token says what the server verified (possession of a key not attested as hardware), not
        // what the app claimed.
        assertEquals(listOf("swk"), idToken.getJSONArray("amr").toList())

        // Decided once: a second approval is refused with a typed error.
        assertThrows<AuthenticatorException.AlreadyDecided> {
            runBlocking { phone.authenticator.approve(txn, listOf("hwk")) }
        }
        Unit
    }

    @Test
    fun `the key store gets the enrollment's challenge and its attestation reaches the server`() = runBlocking {
        // A store without attestation: the server says so, and approvals carry swk.
        val plain = Phone()
        val account = plain.enroll()
        assertEquals(EnrolledAttestation(status = "none", amr = listOf("swk"), reason = null), account.attestation)
        assertEquals(32, plain.keys.lastChallenge?.size)

        // A store that attests with a real (published) Pixel 3 chain: the server checks it, the
        // chain verifies to Google's root, and it is refused as unverified because that chain's
        // key is not this enrollment's key.
        val chainPem = java.io.File(System.getProperty("ciba.fixtures"), "attestation/android/pixel3-blueline-sdk28-km4-tee-ec-factory/chain.pem").readText()
        val certificates = java.security.cert.CertificateFactory.getInstance("X.509")
            .generateCertificates(chainPem.byteInputStream()).map { it.encoded }
        var seenHash: ByteArray? = null
        val attesting = object : JcaKeyStore() {
            override fun keyAttestation(alias: String, clientDataHash: ByteArray): KeyAttestation {
                seenHash = clientDataHash
                return KeyAttestation.AndroidKeyChain(certificates)
            }
        }
        val phone = Phone(keys = attesting)
        val uri = server.enrollmentUri(phone.userId)
        val attested = phone.authenticator.enroll(uri, device, noPush)
        assertEquals("unverified", attested.attestation?.status)
        assertEquals("key_mismatch", attested.attestation?.reason)
        assertEquals(listOf("swk"), attested.attestation?.amr)
        // The challenge is SHA-256("ciba-attestation-v1" || 0 || code), as DEVICE-PROTOCOL.md says.
        val attestedCode = java.net.URI(uri).rawQuery.split("&").first { it.startsWith("code=") }.removePrefix("code=")
        val expected = java.security.MessageDigest.getInstance("SHA-256")
            .digest("ciba-attestation-v1\u0000$attestedCode".toByteArray())
        assertTrue(expected.contentEquals(attesting.lastChallenge))
        assertEquals(32, seenHash?.size)
        assertFalse(expected.contentEquals(seenHash))
    }

    @Test
    fun `an approval key signs approvals, the account key everything else`() = runBlocking {
        val phone = Phone()
        val options = EnrollOptions(
            key = KeyOptions(UserVerification.NONE, preferSecureHardware = true),
            tlsPins = emptyList(),
            approvalKey = KeyOptions(UserVerification.BIOMETRIC, preferSecureHardware = true),
        )
        val account = phone.authenticator.enrollWith(server.enrollmentUri(phone.userId), device, noPush, options)
        assertNotEquals(account.keyAlias, account.approvalKeyAlias)
        assertEquals(UserVerification.BIOMETRIC, phone.keys.lastOptions?.userVerification)
        assertEquals("none", account.approvalAttestation?.status)
        assertEquals(2, phone.keys.size)
        val authReqId = server.backchannelAuthenticate(client, phone.username, "APPROVALKEY")
        val txn = phone.authenticator.pending().single()
        assertEquals(DecisionStatus.APPROVED, phone.authenticator.approve(txn, listOf("fpt")))
        val (status, tokens) = server.poll(client, authReqId)
        assertEquals(200, status, tokens.toString())
        // The approval key is unattested here (java.security keys): the server says swk.
        assertEquals("[\"swk\"]", claims(tokens.getString("id_token")).getJSONArray("amr").toString())
        phone.authenticator.forgetAccount(account.id)
        assertEquals(0, phone.keys.size, "both keys are deleted with the account")
    }

    @Test
    fun `a push is routed to the account and a denial reaches the client`() = runBlocking {
        val phone = Phone()
        phone.enroll()
        val authReqId = server.backchannelAuthenticate(client, phone.username, "DENY-ME")
        val txnId = phone.authenticator.pending().single().view.id

        val payload = JSONObject().put("v", "1").put("iss", server.issuer).put("txn", txnId).toString()
        val txn = phone.authenticator.handlePush(payload)
        assertEquals(txnId, txn.view.id)
        assertEquals(txn, phone.authenticator.findTransaction(txnId))
        assertEquals(txn, phone.authenticator.transaction(txn.accountId, txnId))

        assertEquals(DecisionStatus.DENIED, phone.authenticator.deny(txn, DenyReason.USER_DECLINED))
        val (status, body) = server.poll(client, authReqId)
        assertEquals(400, status)
        assertEquals("access_denied", body.getString("error"))
        assertTrue(phone.authenticator.pending().isEmpty())

        val foreign = JSONObject().put("v", "1").put("iss", "https://other-bank.example").put("txn", txnId).toString()
        val unknown = assertThrows<AuthenticatorException.UnknownIssuer> {
            runBlocking { phone.authenticator.handlePush(foreign) }
        }
        assertEquals("https://other-bank.example", unknown.issuer)
        assertThrows<AuthenticatorException.InvalidInput> {
            runBlocking { phone.authenticator.handlePush("not json") }
        }
        Unit
    }

    @Test
    fun `a typed exception thrown by the app's key store reaches the app typed`() = runBlocking {
        val cancelling = object : JcaKeyStore() {
            @Volatile var cancel = false

            override fun sign(alias: String, data: ByteArray): KeySignature {
                if (cancel) throw KeyStoreException.UserCancelled()
                return super.sign(alias, data)
            }
        }
        val phone = Phone(keys = cancelling)
        phone.enroll()
        server.backchannelAuthenticate(client, phone.username, "CANCEL")
        val txn = phone.authenticator.pending().single()
        cancelling.cancel = true
        assertThrows<AuthenticatorException.UserCancelled> {
            runBlocking { phone.authenticator.approve(txn, listOf("hwk")) }
        }
        cancelling.cancel = false
        assertEquals(DecisionStatus.APPROVED, phone.authenticator.approve(txn, listOf("hwk")))
    }

    @Test
    fun `any other exception from the app's stores becomes an error, not a crash`() = runBlocking {
        val broken = object : JcaKeyStore() {
            override fun createKey(alias: String, options: KeyOptions): ByteArray =
                throw IllegalStateException("Keystore daemon is gone")
        }
        val phone = Phone(keys = broken)
        val keyError = assertThrows<AuthenticatorException.KeyStore> { runBlocking { phone.enroll() } }
        assertTrue(keyError.details.contains("Keystore daemon is gone"), keyError.details)

        val invalidated = object : JcaKeyStore() {
            override fun sign(alias: String, data: ByteArray): KeySignature =
                throw KeyStoreException.KeyInvalidated(alias)
        }
        val lost = Phone(keys = invalidated)
        // "Link this phone again" and "authenticate", typed.
        assertThrows<AuthenticatorException.KeyInvalidated> { runBlocking { lost.enroll() } }
        assertEquals(0, invalidated.size, "a failed enrollment leaves no key behind")
        val locked = object : JcaKeyStore() {
            override fun sign(alias: String, data: ByteArray): KeySignature =
                throw KeyStoreException.UserAuthenticationRequired(alias)
        }
        assertThrows<AuthenticatorException.UserAuthenticationRequired> { runBlocking { Phone(keys = locked).enroll() } }

        val brokenStore = object : AccountStore by MemoryAccountStore() {
            override fun loadAll(): List<Account> = throw java.io.IOException("disk unmounted")
        }
        val storeError = assertThrows<AuthenticatorException.Storage> {
            Authenticator(brokenStore, JcaKeyStore(), defaultAuthenticatorConfig()).accounts()
        }
        assertTrue(storeError.details.contains("disk unmounted"), storeError.details)

        val corrupt = object : AccountStore by MemoryAccountStore() {
            override fun loadAll(): List<Account> = throw StoreException.Corrupt("bad row")
        }
        assertThrows<AuthenticatorException.Storage> {
            runBlocking { Authenticator(corrupt, JcaKeyStore(), defaultAuthenticatorConfig()).pending() }
        }
        Unit
    }

    @Test
    fun `refusals are typed errors`() = runBlocking {
        val phone = Phone()
        val uri = server.enrollmentUri(phone.userId)
        phone.authenticator.enroll(uri, device, noPush)
        val reused = assertThrows<AuthenticatorException.Server> {
            runBlocking { phone.authenticator.enroll(uri, device, noPush) }
        }
        assertEquals("invalid_enrollment_code", reused.error)
        assertEquals(1, phone.authenticator.accounts().size)

        assertThrows<AuthenticatorException.InvalidInput> {
            runBlocking { phone.authenticator.enroll("https://not-an-enrollment-uri", device, noPush) }
        }
        assertThrows<AuthenticatorException.InsecureIssuer> {
            runBlocking {
                phone.authenticator.enroll("ciba-enroll://v1?issuer=http%3A%2F%2Fbank.example&code=abc", device, noPush)
            }
        }
        assertThrows<AuthenticatorException.NotFound> {
            runBlocking { phone.authenticator.findTransaction("txn_doesnotexist") }
        }
        val badAnchor = defaultAuthenticatorConfig().copy(extraTrustAnchors = listOf("not a certificate".toByteArray()))
        assertThrows<AuthenticatorException.InvalidInput> {
            Authenticator(MemoryAccountStore(), JcaKeyStore(), badAnchor)
        }
        Unit
    }

    @Test
    fun `lifecycle - push token, key rotation, revocation, unenrollment`() = runBlocking {
        val phone = Phone()
        val account = phone.enroll()
        assertEquals(AccountState.ACTIVE, phone.authenticator.accountStatus(account.id))

        val fcm = PushRegistration(PushProvider.FCM, "fcm-token-1", PushEnvironment.PRODUCTION)
        val updates = phone.authenticator.updatePushToken(fcm)
        assertEquals(listOf(PushTokenUpdate(account.id, null)), updates)
        assertEquals(fcm, phone.authenticator.accounts().single().push)

        val rotated = phone.authenticator.rotateKey(account.id)
        assertNotEquals(account.keyAlias, rotated.keyAlias)
        assertTrue(phone.keys.hasKey(rotated.keyAlias))
        assertEquals(1, phone.keys.size)
        assertFalse(phone.keys.hasKey(account.keyAlias))
        server.backchannelAuthenticate(client, phone.username, "ROTATED")
        val txn = phone.authenticator.pending().single()
        assertEquals(DecisionStatus.APPROVED, phone.authenticator.approve(txn, listOf("hwk")))

        // A second phone of the same user, revoked by the bank.
        val second = Phone()
        val secondAccount = second.authenticator.enroll(server.enrollmentUri(phone.userId), device, noPush)
        server.revokeDevice(secondAccount.deviceId)
        assertEquals(AccountState.REVOKED, second.authenticator.accountStatus(secondAccount.id))
        assertThrows<AuthenticatorException.DeviceRevoked> { runBlocking { second.authenticator.pending() } }

        phone.authenticator.unenroll(account.id)
        assertTrue(phone.authenticator.accounts().isEmpty())
        assertEquals(0, phone.keys.size)
    }

    @Test
    fun `enrollment options, pins, a lost key, and forgetting an account`() = runBlocking {
        val phone = Phone()
        val biometric = EnrollOptions(KeyOptions(UserVerification.BIOMETRIC, preferSecureHardware = true), tlsPins = emptyList())
        assertThrows<AuthenticatorException.InvalidInput> {
            runBlocking {
                phone.authenticator.enrollWith(
                    server.enrollmentUri(phone.userId), device, noPush, biometric.copy(tlsPins = listOf("not a pin")),
                )
            }
        }
        val account = phone.authenticator.enrollWith(server.enrollmentUri(phone.userId), device, noPush, biometric)
        assertEquals(biometric.key, account.keyOptions)
        assertEquals(biometric.key, phone.keys.lastOptions)

        val pin = Base64.getEncoder().encodeToString(ByteArray(32))
        assertEquals(listOf(pin), phone.authenticator.setTlsPins(account.id, listOf(pin)).tlsPins)
        assertEquals(emptyList<String>(), phone.authenticator.setTlsPins(account.id, emptyList()).tlsPins)

        // The platform dropped the key (biometrics re-enrolled): the account must be enrolled again.
        phone.keys.deleteKey(account.keyAlias)
        assertEquals(AccountState.NEEDS_REENROLLMENT, phone.authenticator.accountStatus(account.id))
        assertThrows<AuthenticatorException.KeyMissing> { runBlocking { phone.authenticator.pending() } }
        phone.authenticator.forgetAccount(account.id)
        assertTrue(phone.authenticator.accounts().isEmpty())
    }

    private fun claims(jwt: String): JSONObject =
        JSONObject(String(Base64.getUrlDecoder().decode(jwt.split(".")[1])))
}
