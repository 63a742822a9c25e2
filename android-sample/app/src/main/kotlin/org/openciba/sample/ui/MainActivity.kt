package org.openciba.sample.ui

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle
import android.view.WindowManager
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.launch
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
import org.openciba.authenticator.sdkVersion
import com.google.firebase.messaging.FirebaseMessaging
import org.openciba.sample.R
import org.openciba.sample.androidx.BiometricGate
import org.openciba.sample.androidx.PromptText
import org.openciba.sample.logic.EnrollLink
import org.openciba.sample.logic.ErrorText
import org.openciba.sample.logic.RequestFlow
import org.openciba.sample.logic.RequestState
import org.openciba.sample.platform.LinkIntent
import org.openciba.sample.platform.RequestNotifications

/** What the one activity shows; every state comes from logic/ (RequestFlow) or the SDK. */
sealed interface Screen {
    data class Accounts(val notificationsOn: Boolean) : Screen
    data class Enroll(val link: EnrollLink, val error: ErrorText? = null, val busy: Boolean = false) : Screen
    data class Request(val state: RequestState, val busy: Boolean = false) : Screen
}

/**
 * The app's only activity (a FragmentActivity: BiometricPrompt needs one). Screens show a
 * request's details, so the window is FLAG_SECURE (no screenshots, blank in the recents list).
 */
class MainActivity : FragmentActivity() {
    private val app get() = application as CibaSampleApp
    private lateinit var flow: RequestFlow
    private lateinit var gate: BiometricGate
    private var screen by mutableStateOf<Screen>(Screen.Accounts(notificationsOn = true))

    private val askNotifications =
        registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
            screen = Screen.Accounts(notificationsOn = granted)
            refresh()
        }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        gate = BiometricGate(this, app.authenticator, app.keys) { txn ->
            PromptText(
                title = getString(R.string.prompt_title),
                subtitle = getString(R.string.prompt_subtitle, txn.view.bindingMessage ?: ""),
                cancel = getString(R.string.prompt_cancel),
            )
        }
        flow = RequestFlow(app.authenticator, gate, app.inbox)
        setContent {
            SampleTheme {
                when (val current = screen) {
                    is Screen.Accounts -> AccountsScreen(
                        accounts = app.authenticator.accounts(),
                        pending = app.inbox.pending(),
                        notificationsOn = current.notificationsOn,
                        onTurnOnNotifications = ::askForNotifications,
                        onOpen = ::open,
                    )
                    is Screen.Enroll -> EnrollScreen(current, onConfirm = { enroll(current.link) }, onCancel = ::home)
                    is Screen.Request -> RequestScreen(
                        current,
                        onApprove = { txn -> decide { flow.approve(txn) } },
                        onDeny = { txn -> decide { flow.deny(txn, notMe = false) } },
                        onNotMe = { txn -> decide { flow.deny(txn, notMe = true) } },
                        onDone = ::home,
                    )
                }
            }
        }
        handle(intent)
        askForNotifications()
        lifecycleScope.launch { runCatching { app.pushTokens.retry() } }
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        handle(intent)
    }

    override fun onResume() {
        super.onResume()
        refresh()
    }

    private fun handle(intent: Intent?) {
        LinkIntent.enrollLink(intent)?.let { screen = Screen.Enroll(it); return }
        if (intent?.action == RequestNotifications.ACTION_OPEN_REQUEST) {
            val txnId = intent.getStringExtra(RequestNotifications.EXTRA_TXN_ID) ?: return
            lifecycleScope.launch {
                try {
                    open(app.authenticator.findTransaction(txnId))
                } catch (e: AuthenticatorException) {
                    screen = Screen.Request(RequestState.Failed(null, ErrorText.of(e)))
                }
            }
        }
    }

    private fun askForNotifications() {
        val needed = Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU &&
            ContextCompat.checkSelfPermission(this, Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED
        if (needed) askNotifications.launch(Manifest.permission.POST_NOTIFICATIONS)
        else screen = (screen as? Screen.Accounts)?.copy(notificationsOn = app.notifications.enabled()) ?: screen
    }

    /** Polls every account: the only way requests arrive when notifications are refused. */
    private fun refresh() {
        lifecycleScope.launch {
            runCatching { flow.refresh() }
            (screen as? Screen.Accounts)?.let { screen = it.copy(notificationsOn = app.notifications.enabled()) }
        }
    }

    private fun open(txn: Transaction) {
        app.notifications.cancel(txn.view.id)
        lifecycleScope.launch { screen = Screen.Request(flow.open(txn)) }
    }

    private fun decide(action: suspend () -> RequestState) {
        val current = screen as? Screen.Request ?: return
        screen = current.copy(busy = true)
        lifecycleScope.launch { screen = Screen.Request(action()) }
    }

    private fun enroll(link: EnrollLink) {
        screen = Screen.Enroll(link, busy = true)
        lifecycleScope.launch {
            try {
                val token = runCatching { FirebaseMessaging.getInstance().token.await() }.getOrNull()
                val push = if (token != null) PushRegistration(PushProvider.FCM, token, PushEnvironment.PRODUCTION)
                else PushRegistration(PushProvider.NONE, null, PushEnvironment.PRODUCTION)
                val device = DeviceInfo(
                    displayName = Build.MODEL, platform = Platform.ANDROID, model = Build.MODEL,
                    osVersion = Build.VERSION.RELEASE, appVersion = packageManager.getPackageInfo(packageName, 0).versionName,
                    sdkVersion = sdkVersion(),
                )
                // The account key signs fetches without a prompt; the approval key needs a strong
                // biometric, so a phone without one enrolls without it (the gate then prompts
                // without a CryptoObject).
                val options = EnrollOptions(
                    key = KeyOptions(UserVerification.NONE, preferSecureHardware = true),
                    approvalKey = if (gate.available()) KeyOptions(UserVerification.BIOMETRIC, preferSecureHardware = true) else null,
                )
                app.authenticator.enrollWith(link.uri, device, push, options)
                home()
            } catch (e: AuthenticatorException) {
                screen = Screen.Enroll(link, error = ErrorText.of(e))
            }
        }
    }

    private fun home() {
        screen = Screen.Accounts(notificationsOn = app.notifications.enabled())
        refresh()
    }
}

/** `Task.await()` without kotlinx-coroutines-play-services. */
private suspend fun <T> com.google.android.gms.tasks.Task<T>.await(): T =
    kotlinx.coroutines.suspendCancellableCoroutine { continuation ->
        addOnCompleteListener { task ->
            val error = task.exception
            if (error != null) continuation.resumeWith(Result.failure(error))
            else continuation.resumeWith(Result.success(task.result))
        }
    }
