package org.openciba.sample

import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap
import org.openciba.authenticator.Account
import org.openciba.authenticator.AccountStore
import org.openciba.authenticator.KeyAttestation
import org.openciba.authenticator.KeyOptions
import org.openciba.authenticator.KeySignature
import org.openciba.authenticator.KeyStore
import org.openciba.authenticator.KeyStoreException
import org.openciba.sample.logic.PendingTokenStore

/**
 * Off the phone, java.security P-256 keys stand in for the Android Keystore (the same key
 * formats: SubjectPublicKeyInfo DER, DER signatures). [invalidate] does what a new fingerprint
 * does to a biometric-bound key: the key is still listed, it no longer signs.
 */
class JcaKeys(private val chain: Array<java.security.cert.Certificate>? = null) : KeyStore {
    private val keys = ConcurrentHashMap<String, KeyPair>()
    private val invalidated = ConcurrentHashMap.newKeySet<String>()
    val options = ConcurrentHashMap<String, KeyOptions>()

    fun invalidate(alias: String) {
        invalidated.add(alias)
    }

    override fun createKey(alias: String, options: KeyOptions): ByteArray {
        val generator = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }
        val pair = generator.generateKeyPair()
        if (keys.putIfAbsent(alias, pair) != null) throw KeyStoreException.AlreadyExists(alias)
        this.options[alias] = options
        return pair.public.encoded
    }

    /** The attestation challenge of the last enrollment key (what KeySpecs gives the Keystore). */
    @Volatile var lastChallenge: ByteArray? = null

    override fun createEnrollmentKey(alias: String, options: KeyOptions, attestationChallenge: ByteArray): ByteArray {
        lastChallenge = attestationChallenge
        return createKey(alias, options)
    }

    /** The sample's own conversion of a Keystore chain, over the chain this store was given. */
    override fun keyAttestation(alias: String, clientDataHash: ByteArray): KeyAttestation? =
        org.openciba.sample.platform.AndroidKeystoreKeyStore.attestationOf(chain)

    override fun publicKey(alias: String): ByteArray = pair(alias).public.encoded

    override fun sign(alias: String, data: ByteArray): KeySignature {
        if (alias in invalidated) throw KeyStoreException.KeyInvalidated(alias)
        return KeySignature.Der(
            Signature.getInstance("SHA256withECDSA").run {
                initSign(pair(alias).private)
                update(data)
                sign()
            },
        )
    }

    override fun deleteKey(alias: String) {
        keys.remove(alias)
    }

    /** As the sample's Keystore store answers: an invalidated key is not a usable key. */
    override fun hasKey(alias: String): Boolean = keys.containsKey(alias) && alias !in invalidated

    private fun pair(alias: String) = keys[alias] ?: throw KeyStoreException.NotFound(alias)
}

/** Accounts in memory (the app's store is FileAccountStore, tested under Robolectric). */
class MemoryAccounts : AccountStore {
    private val accounts = mutableListOf<Account>()

    @Synchronized override fun loadAll(): List<Account> = accounts.toList()

    @Synchronized override fun save(account: Account) {
        accounts.removeAll { it.id == account.id }
        accounts.add(account)
    }

    @Synchronized override fun delete(accountId: String) {
        accounts.removeAll { it.id == accountId }
    }
}

class MemoryPendingToken : PendingTokenStore {
    @Volatile private var token: String? = null
    override fun load(): String? = token
    override fun save(token: String?) {
        this.token = token
    }
}
