package org.openciba.authenticator

import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap

/**
 * A [KeyStore] on java.security EC P-256 keys, standing in for the Android Keystore: public keys
 * as SubjectPublicKeyInfo DER (`PublicKey.getEncoded()`), signatures from `SHA256withECDSA` (DER).
 */
open class JcaKeyStore : KeyStore {
    private val keys = ConcurrentHashMap<String, KeyPair>()

    /** How many keys the store holds. */
    val size: Int get() = keys.size

    /** The options of the last key created. */
    @Volatile
    var lastOptions: KeyOptions? = null

    override fun createKey(alias: String, options: KeyOptions): ByteArray {
        lastOptions = options
        val generator = KeyPairGenerator.getInstance("EC")
        generator.initialize(ECGenParameterSpec("secp256r1"))
        val pair = generator.generateKeyPair()
        if (keys.putIfAbsent(alias, pair) != null) throw KeyStoreException.AlreadyExists(alias)
        return pair.public.encoded
    }

    override fun publicKey(alias: String): ByteArray = pair(alias).public.encoded

    override fun sign(alias: String, data: ByteArray): KeySignature {
        val signer = Signature.getInstance("SHA256withECDSA")
        signer.initSign(pair(alias).private)
        signer.update(data)
        return KeySignature.Der(signer.sign())
    }

    override fun deleteKey(alias: String) {
        keys.remove(alias)
    }

    override fun hasKey(alias: String): Boolean = keys.containsKey(alias)

    /** The challenge of the last enrollment key (what the Android Keystore would attest). */
    @Volatile
    var lastChallenge: ByteArray? = null

    override fun createEnrollmentKey(alias: String, options: KeyOptions, attestationChallenge: ByteArray): ByteArray {
        lastChallenge = attestationChallenge
        return createKey(alias, options)
    }

    /** java.security keys have no attestation. */
    override fun keyAttestation(alias: String, clientDataHash: ByteArray): KeyAttestation? = null

    private fun pair(alias: String): KeyPair = keys[alias] ?: throw KeyStoreException.NotFound(alias)
}

/** An [AccountStore] in memory, in enrollment order. */
class MemoryAccountStore : AccountStore {
    private val accounts = mutableListOf<Account>()

    @Synchronized
    override fun loadAll(): List<Account> = accounts.toList()

    @Synchronized
    override fun save(account: Account) {
        val i = accounts.indexOfFirst { it.id == account.id }
        if (i >= 0) accounts[i] = account else accounts.add(account)
    }

    @Synchronized
    override fun delete(accountId: String) {
        accounts.removeAll { it.id == accountId }
    }
}
