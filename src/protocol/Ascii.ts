/**
 * Case-insensitive SMTP words (verbs, ESMTP keywords, SASL mechanism names) are ASCII: only
 * `a`–`z` change case. `String#toUpperCase` follows Unicode, where "quıt" (dotless ı) becomes
 * QUIT and "ſize" becomes SIZE: a command the client did not send.
 *
 * @since 0.1.0
 */

/**
 * `text` with `a`–`z` upper-cased and every other character as it is.
 *
 * @since 0.1.0
 * @category utils
 */
export const upper = (text: string): string => {
  for (let i = 0; i < text.length; i++) {
    // beyond ASCII, toUpperCase would map letters to ASCII ones
    if (text.charCodeAt(i) > 0x7f) return text.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32))
  }
  return text.toUpperCase()
}
