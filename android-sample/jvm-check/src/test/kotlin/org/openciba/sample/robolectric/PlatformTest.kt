package org.openciba.sample.robolectric

import android.app.Notification
import android.app.NotificationManager
import android.content.Context
import android.content.Intent
import android.net.Uri
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.UserNotAuthenticatedException
import java.io.File
import java.security.InvalidKeyException
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.openciba.authenticator.Account
import org.openciba.authenticator.ClientView
import org.openciba.authenticator.EnrolledAttestation
import org.openciba.authenticator.KeyOptions
import org.openciba.authenticator.KeyStoreException
import org.openciba.authenticator.PushEnvironment
import org.openciba.authenticator.PushProvider
import org.openciba.authenticator.PushRegistration
import org.openciba.authenticator.Transaction
import org.openciba.authenticator.TransactionStatus
import org.openciba.authenticator.TransactionView
import org.openciba.authenticator.UserVerification
import org.openciba.sample.platform.AndroidKeystoreKeyStore
import org.openciba.sample.platform.FileAccountStore
import org.openciba.sample.platform.KeySpecs
import org.openciba.sample.platform.LinkIntent
import org.openciba.sample.platform.NotificationText
import org.openciba.sample.platform.RequestNotifications
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

/** The platform layer under Robolectric, on the Android 15 framework (API 35). */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], manifest = Config.NONE)
class PlatformTest {
    private val context: Context get() = RuntimeEnvironment.getApplication()

    @Test
    fun keySpecsFollowTheSdkOptions() {
        val challenge = ByteArray(32) { it.toByte() }
        val plain = KeySpecs.spec("acct", KeyOptions(UserVerification.NONE, true), strongBox = true, attestationChallenge = challenge)
        assertEquals(KeyProperties.PURPOSE_SIGN, plain.purposes)
        assertArrayEquals(arrayOf(KeyProperties.DIGEST_SHA256), plain.digests)
        assertTrue(plain.isStrongBoxBacked)
        assertFalse(plain.isUserAuthenticationRequired)
        assertArrayEquals(challenge, plain.attestationChallenge)

        val presence = KeySpecs.spec("p", KeyOptions(UserVerification.USER_PRESENCE, false), strongBox = false)
        assertFalse(presence.isStrongBoxBacked)
        assertTrue(presence.isUserAuthenticationRequired)
        assertEquals(KeySpecs.PRESENCE_VALIDITY_SECONDS, presence.userAuthenticationValidityDurationSeconds)
        assertEquals(
            KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL,
            presence.userAuthenticationType,
        )
        assertNull(presence.attestationChallenge)

        val biometric = KeySpecs.spec("approval", KeyOptions(UserVerification.BIOMETRIC, true), strongBox = true)
        assertTrue(biometric.isUserAuthenticationRequired)
        assertEquals(0, biometric.userAuthenticationValidityDurationSeconds)
        assertEquals(KeyProperties.AUTH_BIOMETRIC_STRONG, biometric.userAuthenticationType)
        assertTrue(biometric.isInvalidatedByBiometricEnrollment)
    }

    @Test
    fun keystoreExceptionsBecomeTheSdkErrors() {
        val invalidated = AndroidKeystoreKeyStore.map("a", KeyPermanentlyInvalidatedException())
        assertTrue(invalidated is KeyStoreException.KeyInvalidated)
        // As Signature.initSign throws it: wrapped in an InvalidKeyException.
        val wrapped = AndroidKeystoreKeyStore.map("a", InvalidKeyException(KeyPermanentlyInvalidatedException()))
        assertTrue(wrapped is KeyStoreException.KeyInvalidated)
        assertEquals("a", (wrapped as KeyStoreException.KeyInvalidated).alias)
        assertTrue(AndroidKeystoreKeyStore.map("a", UserNotAuthenticatedException()) is KeyStoreException.UserAuthenticationRequired)
        val other = AndroidKeystoreKeyStore.map("a", IllegalStateException("boom"))
        assertTrue(other is KeyStoreException.Backend)
        // Errors already typed pass through untouched.
        val typed = runCatching { AndroidKeystoreKeyStore.mapped("a") { throw KeyStoreException.NotFound("a") } }
        assertTrue(typed.exceptionOrNull() is KeyStoreException.NotFound)
    }

    private fun txn(expiresAt: Long) = Transaction(
        accountId = "acct-1",
        view = TransactionView(
            id = "txn_123", status = TransactionStatus.PENDING,
            client = ClientView(clientId = "c1", name = "Bank of Tests", logoUri = null),
            scope = listOf("openid", "payments"), acrValues = listOf(), bindingMessage = "W4-7QX",
            authorizationDetails = """[{"type":"payment_initiation","creditorName":"Merchant A"}]""",
            userCodeRequired = false, requestedAt = expiresAt - 300, expiresAt = expiresAt, challenge = "ch",
        ),
    )

    @Test
    fun theRequestNotificationIsGenericPrivateAndTimesOutAtExpiry() {
        val text = NotificationText("Requests", "Sign-in and payment requests", "Request to approve", "Open the app to review it", "Deny")
        val notifications = RequestNotifications(context, text, android.app.Activity::class.java, android.R.drawable.ic_dialog_info)
        notifications.createChannel()
        val manager = context.getSystemService(NotificationManager::class.java)!!
        val channel = manager.getNotificationChannel(RequestNotifications.CHANNEL_ID)
        assertNotNull(channel)
        assertEquals(NotificationManager.IMPORTANCE_HIGH, channel.importance)
        assertEquals(Notification.VISIBILITY_PRIVATE, channel.lockscreenVisibility)

        val now = 1_800_000_000_000L
        notifications.show(txn(expiresAt = now / 1000 + 120), now)
        val shown = shadowOf(manager).allNotifications.single()
        assertEquals(RequestNotifications.CHANNEL_ID, shown.channelId)
        assertEquals(Notification.VISIBILITY_PRIVATE, shown.visibility)
        assertEquals("Request to approve", shown.extras.getString(Notification.EXTRA_TITLE))
        assertEquals(120_000L, shown.timeoutAfter)
        // Nothing about the request on the notification: no client, binding message or amount.
        val texts = listOf(Notification.EXTRA_TITLE, Notification.EXTRA_TEXT, Notification.EXTRA_SUB_TEXT, Notification.EXTRA_BIG_TEXT, Notification.EXTRA_INFO_TEXT)
        val everything = texts.joinToString("|") { "${shown.extras.getCharSequence(it)}|${shown.publicVersion?.extras?.getCharSequence(it)}" }
        for (secret in listOf("W4-7QX", "Bank of Tests", "Merchant A")) assertFalse(everything, everything.contains(secret))
        assertEquals(Notification.VISIBILITY_PRIVATE, shown.visibility)
        assertNotNull(shown.publicVersion)
        assertTrue(shadowOf(shown.contentIntent).isImmutable)
        // One action, Deny; there is no Approve from a notification.
        assertEquals(listOf("Deny"), shown.actions.map { it.title.toString() })
        assertTrue(shadowOf(shown.actions.single().actionIntent).isImmutable)
        assertTrue(shadowOf(shown.actions.single().actionIntent).isBroadcast)

        notifications.cancel("txn_123")
        assertTrue(shadowOf(manager).allNotifications.isEmpty())
    }

    @Test
    fun linkIntentReadsEnrollmentLinks() {
        val uri = "ciba-enroll://v1?issuer=https%3A%2F%2Fbank.example&code=AbC"
        val view = LinkIntent.enrollLink(Intent(Intent.ACTION_VIEW, Uri.parse(uri)))
        assertEquals("bank.example", view?.issuerHost)
        assertEquals(uri, view?.uri)
        val shared = LinkIntent.enrollLink(Intent(Intent.ACTION_SEND).putExtra(Intent.EXTRA_TEXT, "  $uri\n"))
        assertEquals("bank.example", shared?.issuerHost)
        assertNull(LinkIntent.enrollLink(Intent(Intent.ACTION_VIEW, Uri.parse("https://bank.example/enroll"))))
        assertNull(LinkIntent.enrollLink(Intent(Intent.ACTION_VIEW, Uri.parse("ciba-enroll://v1?code=AbC"))))
        assertNull(LinkIntent.enrollLink(Intent(Intent.ACTION_MAIN)))
        assertNull(LinkIntent.enrollLink(null))
    }

    private fun account(id: String) = Account(
        id = id, issuer = "https://bank.example", deviceId = "dev-$id", keyAlias = "key-$id", subject = "sub",
        userDisplayName = null, accountLabel = "Alice at bank.example", enrolledAt = 1_700_000_000,
        push = PushRegistration(PushProvider.FCM, "token", PushEnvironment.PRODUCTION),
        keyOptions = KeyOptions(UserVerification.NONE, true), tlsPins = listOf("pin1"),
        attestation = EnrolledAttestation("verified", listOf("hwk"), null), approvalKeyAlias = "approval-$id",
        approvalAttestation = null,
    )

    @Test
    fun fileAccountStoreKeepsEveryFieldAndSurvivesAnInterruptedWrite() {
        val dir = File(context.noBackupFilesDir, "accounts-test").apply { mkdirs() }
        val store = FileAccountStore(dir)
        assertEquals(emptyList<Account>(), store.loadAll())
        store.save(account("a"))
        store.save(account("b"))
        store.save(account("a").copy(accountLabel = "renamed"))
        assertEquals(listOf(account("a").copy(accountLabel = "renamed"), account("b")), store.loadAll())
        store.delete("a")
        assertEquals(listOf(account("b")), store.loadAll())

        // A write that never finished (the process died): the previous file is what is read.
        val atomic = android.util.AtomicFile(File(dir, FileAccountStore.FILE_NAME))
        val out = atomic.startWrite()
        out.write("{\"version\": 1, \"accounts\": [tru".toByteArray())
        out.flush()
        assertEquals(listOf(account("b")), FileAccountStore(dir).loadAll())
        atomic.failWrite(out)
        assertEquals(listOf(account("b")), FileAccountStore(dir).loadAll())
    }
}
