package org.openciba.sample.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalView
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import java.text.DateFormat
import java.util.Date
import org.openciba.authenticator.Account
import org.openciba.authenticator.AccountState
import org.openciba.authenticator.Transaction
import org.openciba.sample.R
import org.openciba.sample.logic.Outcome
import org.openciba.sample.logic.RequestState

@Composable
fun SampleTheme(content: @Composable () -> Unit) = MaterialTheme(content = content)

@Composable
fun AccountsScreen(
    accounts: List<Account>,
    pending: List<Transaction>,
    notificationsOn: Boolean,
    onTurnOnNotifications: () -> Unit,
    onOpen: (Transaction) -> Unit,
) {
    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text(
            stringResource(R.string.accounts_title),
            style = MaterialTheme.typography.headlineSmall,
            modifier = Modifier.semantics { heading() },
        )
        if (!notificationsOn) {
            Card {
                Column(Modifier.padding(12.dp)) {
                    Text(stringResource(R.string.notifications_off))
                    TextButton(onClick = onTurnOnNotifications) { Text(stringResource(R.string.turn_on_notifications)) }
                }
            }
        }
        if (accounts.isEmpty()) {
            Text(stringResource(R.string.accounts_empty))
            Text(stringResource(R.string.scan_hint), style = MaterialTheme.typography.bodySmall)
        }
        LazyColumn(verticalArrangement = Arrangement.spacedBy(8.dp)) {
            items(pending, key = { it.view.id }) { txn ->
                Card(onClick = { onOpen(txn) }, modifier = Modifier.fillMaxWidth()) {
                    Text(stringResource(R.string.request_title, txn.view.client.name), Modifier.padding(12.dp))
                }
            }
            items(accounts, key = { it.id }) { account ->
                Text(account.accountLabel, Modifier.padding(vertical = 4.dp))
            }
        }
    }
}

@Composable
fun EnrollScreen(state: Screen.Enroll, onConfirm: () -> Unit, onCancel: () -> Unit) {
    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(16.dp)) {
        Text(stringResource(R.string.enroll_title), style = MaterialTheme.typography.headlineSmall)
        Text(stringResource(R.string.enroll_question, state.link.issuerHost))
        state.error?.let { Text(stringResource(it.message.res()), color = MaterialTheme.colorScheme.error) }
        if (state.busy) {
            CircularProgressIndicator()
        } else {
            Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
                Button(onClick = onConfirm) { Text(stringResource(R.string.enroll_confirm)) }
                OutlinedButton(onClick = onCancel) { Text(stringResource(R.string.enroll_cancel)) }
            }
        }
    }
}

/**
 * The consent screen. It shows exactly what the approval signs (ConsentLines: the client, each
 * scope, the binding message, each detail), refuses touches while another window covers it
 * (tapjacking), and reads the binding message out character by character.
 */
@Composable
fun RequestScreen(
    screen: Screen.Request,
    onApprove: (Transaction) -> Unit,
    onDeny: (Transaction) -> Unit,
    onNotMe: (Transaction) -> Unit,
    onDone: () -> Unit,
) {
    val view = LocalView.current
    DisposableEffect(view) {
        view.filterTouchesWhenObscured = true
        onDispose { view.filterTouchesWhenObscured = false }
    }
    Column(
        Modifier.fillMaxSize().padding(16.dp).verticalScroll(rememberScrollState()),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        when (val state = screen.state) {
            is RequestState.Showing -> {
                val lines = state.lines
                Text(
                    stringResource(R.string.request_title, lines.client),
                    style = MaterialTheme.typography.headlineSmall,
                    modifier = Modifier.semantics { heading() },
                )
                lines.bindingMessage?.let { code ->
                    Text(stringResource(R.string.request_binding_message))
                    Text(
                        code,
                        style = MaterialTheme.typography.displaySmall,
                        modifier = Modifier.semantics { contentDescription = lines.spokenBindingMessage ?: code },
                    )
                }
                Text(stringResource(R.string.request_scopes), style = MaterialTheme.typography.titleMedium)
                lines.scopes.forEach { Text("• $it") }
                if (lines.details.isNotEmpty()) {
                    Text(stringResource(R.string.request_details), style = MaterialTheme.typography.titleMedium)
                    lines.details.forEach { (path, value) -> Text("$path: $value") }
                }
                Text(
                    stringResource(
                        R.string.request_expires,
                        DateFormat.getTimeInstance(DateFormat.SHORT).format(Date(state.txn.view.expiresAt * 1000)),
                    ),
                    style = MaterialTheme.typography.bodySmall,
                )
                if (screen.busy) {
                    CircularProgressIndicator()
                } else {
                    Button(onClick = { onApprove(state.txn) }, modifier = Modifier.fillMaxWidth()) {
                        Text(stringResource(R.string.request_approve))
                    }
                    OutlinedButton(onClick = { onDeny(state.txn) }, modifier = Modifier.fillMaxWidth()) {
                        Text(stringResource(R.string.request_deny))
                    }
                    TextButton(onClick = { onNotMe(state.txn) }, modifier = Modifier.fillMaxWidth()) {
                        Text(stringResource(R.string.request_not_me))
                    }
                }
            }
            is RequestState.Decided -> {
                Text(
                    stringResource(
                        when (state.outcome) {
                            Outcome.APPROVED -> R.string.request_approved
                            Outcome.DENIED -> R.string.request_denied
                            Outcome.REPORTED_NOT_ME -> R.string.request_reported
                        },
                    ),
                )
                Button(onClick = onDone) { Text(stringResource(android.R.string.ok)) }
            }
            is RequestState.Failed -> {
                Text(stringResource(state.error.message.res()))
                Button(onClick = onDone) { Text(stringResource(android.R.string.ok)) }
            }
            is RequestState.Relink -> {
                Text(stringResource(R.string.relink_title), style = MaterialTheme.typography.headlineSmall)
                Text(
                    stringResource(
                        if (state.state == AccountState.REVOKED) R.string.relink_body_revoked else R.string.relink_body_key,
                    ),
                )
                Button(onClick = onDone) { Text(stringResource(android.R.string.ok)) }
            }
        }
    }
}
