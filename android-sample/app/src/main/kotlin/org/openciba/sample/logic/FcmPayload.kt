package org.openciba.sample.logic

import org.json.JSONObject

/**
 * The wake-up push as FCM delivers it: `RemoteMessage.getData()`, the map the server put in
 * `message.data` (server/src/push/fcm.rs: the SDK's push payload `{"v", "iss", "txn"}`, each
 * value a string). It carries no personal data; the SDK fetches the request itself.
 */
object FcmPayload {
    private val KEYS = listOf("v", "iss", "txn")

    /** The SDK's push payload (JSON) for `Authenticator.handlePush`, or null for another message. */
    fun toSdkPayload(data: Map<String, String>): String? {
        if (KEYS.any { data[it].isNullOrEmpty() }) return null
        val json = JSONObject()
        for (key in KEYS) json.put(key, data.getValue(key))
        return json.toString()
    }
}
