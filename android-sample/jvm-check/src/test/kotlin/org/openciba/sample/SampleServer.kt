package org.openciba.sample

import com.sun.net.httpserver.HttpServer
import java.io.File
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.time.Duration
import java.util.Base64
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import org.json.JSONObject

/**
 * A mock of FCM's HTTP v1 API on loopback: the service account's OAuth token endpoint (`/token`)
 * and `POST /v1/projects/{project}/messages:send`, whose bodies it records. Only FCM itself is
 * mocked: the server's real FCM client talks to it.
 */
class MockFcm : AutoCloseable {
    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
    private val messages = LinkedBlockingQueue<JSONObject>()
    val baseUrl: String get() = "http://127.0.0.1:${server.address.port}"

    init {
        server.createContext("/token") { exchange ->
            exchange.requestBody.readAllBytes()
            reply(exchange, """{"access_token":"fcm-access","expires_in":3600,"token_type":"Bearer"}""")
        }
        server.createContext("/v1/projects/") { exchange ->
            val body = JSONObject(String(exchange.requestBody.readAllBytes(), Charsets.UTF_8))
            check(exchange.requestHeaders.getFirst("Authorization") == "Bearer fcm-access")
            messages.add(body)
            reply(exchange, """{"name":"projects/$PROJECT/messages/0:1"}""")
        }
        server.start()
    }

    /** The next `message` sent (waits up to 10 s). */
    fun nextMessage(): JSONObject =
        messages.poll(10, TimeUnit.SECONDS)?.getJSONObject("message") ?: error("no FCM message within 10 s")

    /** The `message.data` map of the next message, as `RemoteMessage.getData()` gives it. */
    fun nextData(): Map<String, String> {
        val data = nextMessage().getJSONObject("data")
        return data.keys().asSequence().associateWith { data.getString(it) }
    }

    /** A service-account key file whose `token_uri` is this mock (the throwaway key of tests/fixtures). */
    fun writeServiceAccount(dir: File): File {
        val fixtures = System.getProperty("ciba.fixtures") ?: error("-Dciba.fixtures is not set")
        val key = File(fixtures, "fcm-service-account-key.pem").readText()
        val file = File(dir, "fcm-service-account.json")
        file.writeText(
            JSONObject()
                .put("type", "service_account")
                .put("project_id", PROJECT)
                .put("private_key_id", "test-key-1")
                .put("private_key", key)
                .put("client_email", "ciba-server@$PROJECT.iam.gserviceaccount.com")
                .put("token_uri", "$baseUrl/token")
                .toString(),
        )
        return file
    }

    override fun close() = server.stop(0)

    private fun reply(exchange: com.sun.net.httpserver.HttpExchange, json: String) {
        val bytes = json.toByteArray()
        exchange.responseHeaders.add("Content-Type", "application/json")
        exchange.sendResponseHeaders(200, bytes.size.toLong())
        exchange.responseBody.use { it.write(bytes) }
    }

    companion object {
        const val PROJECT = "ciba-sample"
    }
}

/**
 * The real `ciba-server` binary (`-Dciba.server`) on a loopback port with its own SQLite database,
 * pushing through [fcm] when given; and the calls the bank's backend (admin API) and a client
 * application (CIBA) make to it. [stop] and [start] keep the database and port (a server that
 * is down for a while).
 */
class SampleServer(private val fcm: MockFcm? = null) : AutoCloseable {
    private val dir: File = Files.createTempDirectory("ciba-android-sample-").toFile()
    private val port = ServerSocket(0).use { it.localPort }
    private val http: HttpClient = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()
    private var process: Process? = null
    val issuer = "http://127.0.0.1:$port"

    data class Client(val id: String, val secret: String)

    init {
        start()
    }

    fun start() {
        check(process == null) { "running" }
        val binary = System.getProperty("ciba.server")?.takeIf { it.isNotBlank() }
            ?: error("set -Dciba.server=<ciba-server binary> (android-sample/scripts/test.sh does)")
        val builder = ProcessBuilder(binary).directory(dir).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(File(dir, "server.log")))
        builder.environment().apply {
            put("CIBA_LISTEN", "127.0.0.1:$port")
            put("CIBA_DATABASE_URL", "sqlite://${File(dir, "ciba.db").absolutePath}")
            put("CIBA_ADMIN_TOKEN", ADMIN_TOKEN)
            put("RUST_LOG", "warn")
            if (fcm != null) {
                put("CIBA_PUSH__FCM__PROJECT_ID", MockFcm.PROJECT)
                put("CIBA_PUSH__FCM__SERVICE_ACCOUNT_FILE", fcm.writeServiceAccount(dir).absolutePath)
                put("CIBA_PUSH__FCM__BASE_URL", fcm.baseUrl)
            }
        }
        val started = builder.start()
        process = started
        val health = HttpRequest.newBuilder(URI.create("$issuer/readyz")).build()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (System.nanoTime() < deadline) {
            check(started.isAlive) { "ciba-server exited: ${log()}" }
            if (runCatching { http.send(health, HttpResponse.BodyHandlers.discarding()).statusCode() == 200 }
                    .getOrDefault(false)
            ) return
            Thread.sleep(100)
        }
        error("ciba-server did not become ready within 30 s: ${log()}")
    }

    fun stop() {
        val running = process ?: return
        running.destroy()
        if (!running.waitFor(10, TimeUnit.SECONDS)) running.destroyForcibly().waitFor()
        process = null
    }

    override fun close() {
        stop()
        dir.deleteRecursively()
    }

    fun log(): String = File(dir, "server.log").takeIf { it.exists() }?.readText()?.takeLast(4000) ?: ""

    fun createUser(username: String): String =
        admin("POST", "/admin/v1/users", JSONObject().put("username", username)).getString("id")

    fun createClient(name: String): Client {
        val answer = admin(
            "POST",
            "/admin/v1/clients",
            JSONObject().put("name", name).put("backchannel_token_delivery_mode", "poll")
                .put("scope", "openid accounts payments"),
        )
        return Client(answer.getString("client_id"), answer.getString("client_secret"))
    }

    fun enrollmentUri(userId: String): String =
        admin("POST", "/admin/v1/users/$userId/enrollments", JSONObject()).getString("uri")

    fun revokeDevice(deviceId: String) {
        admin("DELETE", "/admin/v1/devices/$deviceId", null)
    }

    fun unlockUser(userId: String) {
        admin("POST", "/admin/v1/users/$userId/unlock", JSONObject())
    }

    /** The audit events of a user, oldest first. */
    fun auditKinds(userId: String): List<String> {
        val events = admin("GET", "/admin/v1/audit?user_id=$userId", null).getJSONArray("events")
        return (0 until events.length()).map { events.getJSONObject(it).getString("kind") }
    }

    /** A backchannel authentication request; returns the `auth_req_id`. */
    fun backchannel(client: Client, loginHint: String, extra: Map<String, String> = emptyMap()): String {
        val (status, body) = clientPost(
            client,
            "/backchannel/authenticate",
            mapOf("scope" to "openid accounts", "login_hint" to loginHint) + extra,
        )
        check(status == 200) { "backchannel: $status $body" }
        return body.getString("auth_req_id")
    }

    fun poll(client: Client, authReqId: String): Pair<Int, JSONObject> = clientPost(
        client,
        "/token",
        mapOf("grant_type" to "urn:openid:params:grant-type:ciba", "auth_req_id" to authReqId),
    )

    private fun admin(method: String, path: String, body: JSONObject?): JSONObject {
        val publisher = body?.let { HttpRequest.BodyPublishers.ofString(it.toString()) }
            ?: HttpRequest.BodyPublishers.noBody()
        val request = HttpRequest.newBuilder(URI.create(issuer + path))
            .header("Authorization", "Bearer $ADMIN_TOKEN")
            .header("Content-Type", "application/json")
            .method(method, publisher)
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$method $path: ${response.statusCode()} ${response.body()}" }
        return if (response.body().isBlank()) JSONObject() else JSONObject(response.body())
    }

    private fun clientPost(client: Client, path: String, form: Map<String, String>): Pair<Int, JSONObject> {
        fun enc(s: String) = URLEncoder.encode(s, Charsets.UTF_8)
        val basic = Base64.getEncoder().encodeToString("${enc(client.id)}:${enc(client.secret)}".toByteArray())
        val request = HttpRequest.newBuilder(URI.create(issuer + path))
            .header("Authorization", "Basic $basic")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofString(form.entries.joinToString("&") { "${enc(it.key)}=${enc(it.value)}" }))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        return response.statusCode() to JSONObject(response.body())
    }

    companion object {
        const val ADMIN_TOKEN = "android-sample-admin-token-0123456789"

        /** The claims of a JWT (not verified: the server signed it, the test only reads it). */
        fun claims(jwt: String): JSONObject =
            JSONObject(String(Base64.getUrlDecoder().decode(jwt.split('.')[1]), Charsets.UTF_8))
    }
}
