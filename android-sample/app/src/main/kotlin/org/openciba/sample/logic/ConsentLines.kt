package org.openciba.sample.logic

import org.json.JSONArray
import org.json.JSONObject
import org.json.JSONTokener
import org.openciba.authenticator.Transaction

/**
 * What the request screen shows, line by line: who asks, for which scopes, the binding message
 * and every leaf of the authorization details. These are exactly the fields the SDK's consent
 * text (`consentText(txn)`, what an approval signs) covers; the consent text itself is the SDK's
 * and is never rebuilt here.
 */
data class ConsentLines(
    /** The client's registered name. */
    val client: String,
    /** Every scope asked for, in the order the server gave. */
    val scopes: List<String>,
    /** The binding message, to compare with the other screen; null when there is none. */
    val bindingMessage: String?,
    /** Each leaf of the authorization details: its path (`instructedAmount.currency`) and value. */
    val details: List<Pair<String, String>>,
) {
    /** The text a screen reader reads for the binding message: one character at a time. */
    val spokenBindingMessage: String? get() = bindingMessage?.toCharArray()?.joinToString(" ")

    companion object {
        fun of(txn: Transaction): ConsentLines {
            val view = txn.view
            val leaves = mutableListOf<Pair<String, String>>()
            view.authorizationDetails?.let { text ->
                flatten("", JSONTokener(text).nextValue(), leaves)
            }
            return ConsentLines(view.client.name, view.scope, view.bindingMessage, leaves)
        }

        private fun flatten(path: String, value: Any?, out: MutableList<Pair<String, String>>) {
            when (value) {
                is JSONObject -> value.keys().asSequence().sorted().forEach { key ->
                    flatten(if (path.isEmpty()) key else "$path.$key", value.get(key), out)
                }
                is JSONArray -> for (i in 0 until value.length()) {
                    flatten("$path[$i]", value.get(i), out)
                }
                JSONObject.NULL, null -> out.add(path to "null")
                else -> out.add(path to value.toString())
            }
        }
    }
}
