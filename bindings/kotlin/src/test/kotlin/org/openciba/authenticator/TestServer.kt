package org.openciba.authenticator

import java.io.File
import java.net.ServerSocket
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.time.Duration
import java.util.Base64
import java.util.concurrent.TimeUnit
import org.json.JSONObject

/**
 * The real `ciba-server` binary (path in the `ciba.server` system property) on a free loopback
 * port, with a SQLite database in a temporary directory, and the HTTP calls a bank's backend
 * (admin API) and a client application (CIBA) make to it.
 */
class TestServer private constructor(
    private val process: Process,
    private val dir: File,
    val issuer: String,
) : AutoCloseable {
    private val http: HttpClient = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    /** A client application registered for one test. */
    data class Client(val id: String, val secret: String)

    /** Creates a user; returns its id. */
    fun createUser(username: String): String =
        adminPost("/admin/v1/users", JSONObject().put("username", username).put("display_name", "User $username"))
            .getString("id")

    /** Registers a poll-mode client allowed the scopes `openid accounts`. */
    fun createClient(name: String): Client {
        val body = JSONObject()
            .put("name", name)
            .put("backchannel_token_delivery_mode", "poll")
            .put("scope", "openid accounts")
        val answer = adminPost("/admin/v1/clients", body)
        return Client(answer.getString("client_id"), answer.getString("client_secret"))
    }

    /** A fresh single-use enrollment URI for the user (what the QR code carries). */
    fun enrollmentUri(userId: String): String =
        adminPost("/admin/v1/users/$userId/enrollments", JSONObject()).getString("uri")

    /** Revokes a device, as the bank's backend does when a phone is lost. */
    fun revokeDevice(deviceId: String) {
        val request = HttpRequest.newBuilder(URI.create("$issuer/admin/v1/devices/$deviceId"))
            .header("Authorization", "Bearer $ADMIN_TOKEN")
            .DELETE()
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "revoke: ${response.statusCode()} ${response.body()}" }
    }

    /** A CIBA backchannel authentication request; returns the `auth_req_id`. */
    fun backchannelAuthenticate(client: Client, loginHint: String, bindingMessage: String): String {
        val (status, body) = clientPost(
            client,
            "/backchannel/authenticate",
            mapOf("scope" to "openid accounts", "login_hint" to loginHint, "binding_message" to bindingMessage),
        )
        check(status == 200) { "backchannel authenticate: $status $body" }
        return body.getString("auth_req_id")
    }

    /** One poll of the token endpoint with the CIBA grant: HTTP status and JSON body. */
    fun poll(client: Client, authReqId: String): Pair<Int, JSONObject> =
        clientPost(
            client,
            "/token",
            mapOf("grant_type" to "urn:openid:params:grant-type:ciba", "auth_req_id" to authReqId),
        )

    private fun adminPost(path: String, body: JSONObject): JSONObject {
        val request = HttpRequest.newBuilder(URI.create(issuer + path))
            .header("Authorization", "Bearer $ADMIN_TOKEN")
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$path: ${response.statusCode()} ${response.body()}" }
        return JSONObject(response.body())
    }

    private fun clientPost(client: Client, path: String, form: Map<String, String>): Pair<Int, JSONObject> {
        val encoded = form.entries.joinToString("&") { (k, v) -> "${enc(k)}=${enc(v)}" }
        val basic = Base64.getEncoder().encodeToString("${enc(client.id)}:${enc(client.secret)}".toByteArray())
        val request = HttpRequest.newBuilder(URI.create(issuer + path))
            .header("Authorization", "Basic $basic")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofString(encoded))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        return response.statusCode() to JSONObject(response.body())
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
        dir.deleteRecursively()
    }

    /** The server's log, for failure messages. */
    fun log(): String = File(dir, "server.log").takeIf { it.exists() }?.readText()?.takeLast(4000) ?: ""

    companion object {
        const val ADMIN_TOKEN = "kotlin-test-admin-token-0123456789"

        private fun enc(s: String) = URLEncoder.encode(s, Charsets.UTF_8)

        /** Starts the server and waits until it answers `/healthz`. */
        fun start(): TestServer {
            val binary = System.getProperty("ciba.server")?.takeIf { it.isNotBlank() }
                ?: error("set -Dciba.server=<path of the ciba-server binary> (bindings/scripts/test-kotlin.sh does)")
            val dir = Files.createTempDirectory("ciba-kotlin-").toFile()
            val port = ServerSocket(0).use { it.localPort }
            val issuer = "http://127.0.0.1:$port"
            val builder = ProcessBuilder(binary)
                .directory(dir)
                .redirectErrorStream(true)
                .redirectOutput(File(dir, "server.log"))
            builder.environment().apply {
                put("CIBA_LISTEN", "127.0.0.1:$port")
                put("CIBA_DATABASE_URL", "sqlite://${File(dir, "ciba.db").absolutePath}")
                put("CIBA_ADMIN_TOKEN", ADMIN_TOKEN)
                put("RUST_LOG", "warn")
            }
            val process = try {
                builder.start()
            } catch (e: java.io.IOException) {
                dir.deleteRecursively()
                throw e
            }
            val server = TestServer(process, dir, issuer)
            Runtime.getRuntime().addShutdownHook(Thread { server.process.destroyForcibly() })
            val health = HttpRequest.newBuilder(URI.create("$issuer/healthz")).build()
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
            while (System.nanoTime() < deadline) {
                check(server.process.isAlive) { "ciba-server exited: ${server.log()}" }
                val up = runCatching {
                    server.http.send(health, HttpResponse.BodyHandlers.discarding()).statusCode() == 200
                }.getOrDefault(false)
                if (up) return server
                Thread.sleep(100)
            }
            server.close()
            error("ciba-server did not answer within 30 s")
        }
    }
}
