package org.openciba.sample

import java.io.File
import javax.xml.parsers.DocumentBuilderFactory
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.openciba.authenticator.AuthenticatorException
import org.openciba.sample.logic.ErrorText
import org.openciba.sample.logic.Message
import org.openciba.sample.logic.NextStep

class ErrorTextTest {
    /** Every subclass of the SDK's sealed AuthenticatorException, found by reflection, built with placeholder values. */
    private fun everyError(): List<AuthenticatorException> {
        val classes = AuthenticatorException::class.java.declaredClasses
            .filter { AuthenticatorException::class.java.isAssignableFrom(it) && it != AuthenticatorException::class.java }
        assertTrue(classes.size >= 17, classes.toString())
        return classes.map { cls ->
            val constructor = cls.declaredConstructors.maxBy { it.parameterCount }
            constructor.isAccessible = true
            val args: List<Any?> = constructor.parameterTypes.map { type ->
                when (type) {
                    String::class.java -> "detail" as Any?
                    java.lang.Short.TYPE -> 503.toShort()
                    java.lang.Integer.TYPE -> 0
                    java.lang.Long.TYPE -> 0L
                    java.lang.Boolean.TYPE -> false
                    else -> null // kotlin.jvm.internal.DefaultConstructorMarker
                }
            }
            constructor.newInstance(*args.toTypedArray()) as AuthenticatorException
        }
    }

    @Test
    fun `every SDK error has its text and next step`() {
        val texts = everyError().associate { it.javaClass.simpleName to ErrorText.of(it) }
        assertEquals(ErrorText(Message.ERROR_KEY_INVALIDATED, NextStep.RELINK), texts["KeyInvalidated"])
        assertEquals(ErrorText(Message.ERROR_DEVICE_REVOKED, NextStep.RELINK), texts["DeviceRevoked"])
        assertEquals(ErrorText(Message.ERROR_NETWORK, NextStep.RETRY), texts["Network"])
        assertEquals(ErrorText(Message.ERROR_SERVER, NextStep.RETRY), texts["Server"]) // a 503
        assertEquals(ErrorText(Message.ERROR_EXPIRED, NextStep.DISMISS), texts["Expired"])
        // Each error its own message: none falls into another's.
        assertEquals(texts.size, texts.values.map { it.message }.toSet().size, texts.toString())
    }

    @Test
    fun `every message has its string in both locales`() {
        val res = File(System.getProperty("sample.res") ?: "../app/src/main/res")
        for (locale in listOf("values", "values-fr")) {
            val file = File(res, "$locale/strings.xml")
            val doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file)
            val nodes = doc.getElementsByTagName("string")
            val names = (0 until nodes.length).map { nodes.item(it).attributes.getNamedItem("name").nodeValue }.toSet()
            for (message in Message.entries) {
                assertTrue(message.name.lowercase() in names, "${message.name.lowercase()} missing from $file")
            }
        }
    }
}
