package org.openciba.sample.logic

import java.net.URI
import java.net.URLDecoder

/**
 * An enrollment link, read from a scanned QR code or an app link (`ciba-enroll://v1?issuer=…&code=…`).
 * The SDK parses and checks it again when it enrolls; this only decides whether to offer
 * "link this phone to <host>?", and to whom.
 */
class EnrollLink private constructor(
    /** The whole link, handed to `Authenticator.enroll` as is. */
    val uri: String,
    /** The issuer's host, shown to the user before enrolling. */
    val issuerHost: String,
) {
    override fun toString(): String = "EnrollLink($issuerHost)"

    companion object {
        /** The scheme of enrollment links (the manifest's intent filter). */
        const val SCHEME = "ciba-enroll"

        /** The SDK refuses longer links; so do we, before parsing. */
        const val MAX_LENGTH = 2048

        /** The link in [text], or null when it is not an enrollment link. */
        fun parse(text: String?): EnrollLink? {
            val trimmed = text?.trim() ?: return null
            if (trimmed.isEmpty() || trimmed.length > MAX_LENGTH) return null
            val uri = runCatching { URI(trimmed) }.getOrNull() ?: return null
            if (!uri.scheme.equals(SCHEME, ignoreCase = true) || uri.host != "v1") return null
            val query = uri.rawQuery ?: return null
            val params = query.split('&').mapNotNull { part ->
                val eq = part.indexOf('=')
                if (eq <= 0) return@mapNotNull null
                val key = decode(part.substring(0, eq)) ?: return@mapNotNull null
                val value = decode(part.substring(eq + 1)) ?: return@mapNotNull null
                key to value
            }
            val issuers = params.filter { it.first == "issuer" }.map { it.second }
            val codes = params.filter { it.first == "code" }.map { it.second }
            if (issuers.size != 1 || codes.size != 1 || codes[0].isEmpty()) return null
            val issuer = runCatching { URI(issuers[0]) }.getOrNull() ?: return null
            if (issuer.scheme !in setOf("https", "http")) return null
            val host = issuer.host?.takeIf { it.isNotEmpty() } ?: return null
            return EnrollLink(trimmed, host)
        }

        private fun decode(s: String): String? =
            runCatching { URLDecoder.decode(s, Charsets.UTF_8) }.getOrNull()
    }
}
