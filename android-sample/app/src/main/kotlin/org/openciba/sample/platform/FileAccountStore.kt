package org.openciba.sample.platform

import android.util.AtomicFile
import java.io.File
import java.io.FileNotFoundException
import org.openciba.authenticator.Account
import org.openciba.authenticator.AccountStore
import org.openciba.sample.logic.AccountJson

/**
 * The SDK's [AccountStore] in one JSON file (`AccountJson`), written through `AtomicFile`: a
 * crash mid-write leaves the previous file. The file lives in `noBackupFilesDir` and the backup
 * rules exclude it (an account restored without its Keystore key cannot sign).
 */
class FileAccountStore(directory: File) : AccountStore {
    private val file = AtomicFile(File(directory, FILE_NAME))

    @Synchronized
    override fun loadAll(): List<Account> = try {
        AccountJson.decode(String(file.readFully(), Charsets.UTF_8))
    } catch (e: FileNotFoundException) {
        emptyList()
    }

    @Synchronized
    override fun save(account: Account) {
        val accounts = loadAll().toMutableList()
        val i = accounts.indexOfFirst { it.id == account.id }
        if (i >= 0) accounts[i] = account else accounts.add(account)
        write(accounts)
    }

    @Synchronized
    override fun delete(accountId: String) {
        write(loadAll().filterNot { it.id == accountId })
    }

    private fun write(accounts: List<Account>) {
        val out = file.startWrite()
        try {
            out.write(AccountJson.encode(accounts).toByteArray(Charsets.UTF_8))
            file.finishWrite(out)
        } catch (e: Exception) {
            file.failWrite(out)
            throw e
        }
    }

    companion object {
        const val FILE_NAME = "ciba-accounts.json"
    }
}
