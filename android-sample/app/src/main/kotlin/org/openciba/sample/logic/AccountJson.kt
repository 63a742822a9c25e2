package org.openciba.sample.logic

import org.json.JSONArray
import org.json.JSONObject
import org.openciba.authenticator.Account
import org.openciba.authenticator.EnrolledAttestation
import org.openciba.authenticator.KeyOptions
import org.openciba.authenticator.PushEnvironment
import org.openciba.authenticator.PushProvider
import org.openciba.authenticator.PushRegistration
import org.openciba.authenticator.UserVerification

/**
 * The accounts file's format: `{"version": 1, "accounts": [...]}`, every field of the SDK's
 * [Account] by name. Nothing in an account is secret (the keys stay in the Keystore); the file
 * is still kept out of backups (a restored account without its key is useless).
 */
object AccountJson {
    const val VERSION = 1

    fun encode(accounts: List<Account>): String {
        val list = JSONArray()
        for (a in accounts) list.put(encode(a))
        return JSONObject().put("version", VERSION).put("accounts", list).toString()
    }

    /** The accounts of a file; a file of another version or shape is refused (not guessed at). */
    fun decode(text: String): List<Account> {
        val root = JSONObject(text)
        require(root.getInt("version") == VERSION) { "accounts file version ${root.get("version")}" }
        val list = root.getJSONArray("accounts")
        return (0 until list.length()).map { decodeAccount(list.getJSONObject(it)) }
    }

    private fun encode(a: Account): JSONObject = JSONObject()
        .put("id", a.id)
        .put("issuer", a.issuer)
        .put("device_id", a.deviceId)
        .put("key_alias", a.keyAlias)
        .put("subject", a.subject)
        .put("user_display_name", a.userDisplayName ?: JSONObject.NULL)
        .put("account_label", a.accountLabel)
        .put("enrolled_at", a.enrolledAt)
        .put(
            "push",
            JSONObject()
                .put("provider", a.push.provider.name)
                .put("token", a.push.token ?: JSONObject.NULL)
                .put("environment", a.push.environment.name),
        )
        .put(
            "key_options",
            JSONObject()
                .put("user_verification", a.keyOptions.userVerification.name)
                .put("prefer_secure_hardware", a.keyOptions.preferSecureHardware),
        )
        .put("tls_pins", JSONArray(a.tlsPins))
        .put("attestation", a.attestation?.let(::encode) ?: JSONObject.NULL)
        .put("approval_key_alias", a.approvalKeyAlias ?: JSONObject.NULL)
        .put("approval_attestation", a.approvalAttestation?.let(::encode) ?: JSONObject.NULL)

    private fun encode(e: EnrolledAttestation): JSONObject = JSONObject()
        .put("status", e.status)
        .put("amr", JSONArray(e.amr))
        .put("reason", e.reason ?: JSONObject.NULL)

    private fun decodeAccount(o: JSONObject): Account {
        val push = o.getJSONObject("push")
        val keyOptions = o.getJSONObject("key_options")
        return Account(
            id = o.getString("id"),
            issuer = o.getString("issuer"),
            deviceId = o.getString("device_id"),
            keyAlias = o.getString("key_alias"),
            subject = o.getString("subject"),
            userDisplayName = o.optStringOrNull("user_display_name"),
            accountLabel = o.getString("account_label"),
            enrolledAt = o.getLong("enrolled_at"),
            push = PushRegistration(
                provider = PushProvider.valueOf(push.getString("provider")),
                token = push.optStringOrNull("token"),
                environment = PushEnvironment.valueOf(push.getString("environment")),
            ),
            keyOptions = KeyOptions(
                userVerification = UserVerification.valueOf(keyOptions.getString("user_verification")),
                preferSecureHardware = keyOptions.getBoolean("prefer_secure_hardware"),
            ),
            tlsPins = o.getJSONArray("tls_pins").strings(),
            attestation = o.optObjectOrNull("attestation")?.let(::decodeAttestation),
            approvalKeyAlias = o.optStringOrNull("approval_key_alias"),
            approvalAttestation = o.optObjectOrNull("approval_attestation")?.let(::decodeAttestation),
        )
    }

    private fun decodeAttestation(o: JSONObject) = EnrolledAttestation(
        status = o.getString("status"),
        amr = o.getJSONArray("amr").strings(),
        reason = o.optStringOrNull("reason"),
    )

    private fun JSONObject.optStringOrNull(key: String): String? =
        if (isNull(key)) null else getString(key)

    private fun JSONObject.optObjectOrNull(key: String): JSONObject? =
        if (isNull(key)) null else getJSONObject(key)

    private fun JSONArray.strings(): List<String> = (0 until length()).map { getString(it) }
}
