/**
 * The server's side of SASL for SMTP AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN, CRAM-MD5
 * (RFC 2195) and XOAUTH2. Pure: each mechanism is a small state machine from the client's
 * responses (base64 text, as sent) to the credentials an `Authenticator` checks. Payloads are
 * never logged: nothing here logs, and the connection does not trace these lines.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { Base64 } from "effect/encoding"
import * as Ascii from "./Ascii.js"
import * as Reply from "./Reply.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Mechanism = "PLAIN" | "LOGIN" | "CRAM-MD5" | "XOAUTH2"

/**
 * What the client proved it knows, for the `Authenticator` to judge.
 *
 * @since 0.1.0
 * @category models
 */
export type Credentials =
  | {
      readonly _tag: "Password"
      readonly mechanism: "PLAIN" | "LOGIN"
      readonly user: string
      readonly password: string
      /** PLAIN's authorization identity, when it differs from `user`. */
      readonly authorizationId?: string | undefined
    }
  | { readonly _tag: "CramMd5"; readonly user: string; readonly challenge: string; readonly digest: string }
  | { readonly _tag: "OAuth2"; readonly user: string; readonly token: string }

/**
 * The next move: send a challenge (`334 <challenge>`) and feed the client's answer line to
 * `next`; or the credentials are complete; or the exchange failed with this reply.
 *
 * @since 0.1.0
 * @category models
 */
export type Step =
  | { readonly _tag: "Challenge"; readonly challenge: string; readonly next: (response: string) => Step }
  | { readonly _tag: "Done"; readonly credentials: Credentials }
  | { readonly _tag: "Fail"; readonly reply: Reply.Reply }

/**
 * Every mechanism this module speaks, in the order a server usually offers them.
 *
 * @since 0.1.0
 * @category constants
 */
export const mechanisms: ReadonlyArray<Mechanism> = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]

/**
 * The mechanism an AUTH command names, matched case-insensitively (RFC 4954 §4: SASL
 * mechanism names are case-insensitive); `undefined` for one this module does not speak.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseMechanism = (text: string): Mechanism | undefined => {
  const upper = Ascii.upper(text)
  return mechanisms.find((mechanism) => mechanism === upper)
}

const fail = (reply: Reply.Reply): Step => ({ _tag: "Fail", reply })
const done = (credentials: Credentials): Step => ({ _tag: "Done", credentials })
const challenge = (text: string, next: (response: string) => Step): Step => ({
  _tag: "Challenge",
  challenge: text,
  next
})

const invalidBase64 = Reply.make(501, "5.5.2", "Invalid base64 data")
const invalidUtf8 = Reply.make(501, "5.5.2", "Invalid UTF-8 data")
const malformed = (mechanism: Mechanism) => Reply.make(501, "5.5.2", `Malformed ${mechanism} response`)

// fatal: a lone surrogate or overlong sequence is refused, not turned into U+FFFD, so two
// different byte strings never become the same user name; ignoreBOM keeps the bytes as sent
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const decodeUtf8 = (bytes: Uint8Array): string | undefined => {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

/** A response line (base64) to its bytes, then to `use`; a bad line fails the exchange. */
const withBytes = (response: string, use: (bytes: Uint8Array) => Step): Step => {
  const bytes = Base64.decode(response)
  return Result.isFailure(bytes) ? fail(invalidBase64) : use(bytes.success)
}

const withText = (response: string, use: (text: string) => Step): Step =>
  withBytes(response, (bytes) => {
    const text = decodeUtf8(bytes)
    return text === undefined ? fail(invalidUtf8) : use(text)
  })

// RFC 4954 §4: "=" is an initial response that is present and empty
const initial = (response: string) => (response === "=" ? "" : response)

// RFC 4616 §2: authzid, authcid and passwd are each at most 255 octets; authcid and passwd
// are not empty
const maxPlainField = 255

const plain = (response: string): Step =>
  withBytes(response, (bytes) => {
    const first = bytes.indexOf(0)
    const second = first < 0 ? -1 : bytes.indexOf(0, first + 1)
    // exactly two NULs: a third would sit inside passwd, which RFC 4616 forbids
    if (second < 0 || bytes.indexOf(0, second + 1) >= 0) return fail(malformed("PLAIN"))
    const fields = [bytes.subarray(0, first), bytes.subarray(first + 1, second), bytes.subarray(second + 1)] as const
    const [, authcid, passwd] = fields
    if (authcid.length === 0 || passwd.length === 0 || fields.some((field) => field.length > maxPlainField)) {
      return fail(malformed("PLAIN"))
    }
    const [authorizationId, user, password] = fields.map(decodeUtf8)
    if (authorizationId === undefined || user === undefined || password === undefined) return fail(invalidUtf8)
    return done({
      _tag: "Password",
      mechanism: "PLAIN",
      user,
      password,
      // an authzid equal to the authcid asks for nothing more than the authcid (RFC 4616 §2)
      ...(authorizationId !== "" && authorizationId !== user ? { authorizationId } : {})
    })
  })

// LOGIN (draft-murchison-sasl-login): the server asks "Username:" then "Password:"
const usernamePrompt = Base64.encode("Username:")
const passwordPrompt = Base64.encode("Password:")

const loginUser = (response: string): Step =>
  withText(response, (user) =>
    user === ""
      ? fail(malformed("LOGIN"))
      : challenge(passwordPrompt, (answer) =>
          withText(answer, (password) =>
            password === "" ? fail(malformed("LOGIN")) : done({ _tag: "Password", mechanism: "LOGIN", user, password })
          )
        )
  )

// RFC 2195 §2: "the user name, a space, and the digest as 32 lowercase hex digits"; the name
// may itself hold spaces, so the digest is what follows the last one. Uppercase digits are
// accepted (and lowered): they carry the same digest.
const cramMd5Response = /^(.+) ([0-9a-fA-F]{32})$/s

const cramMd5 = (challengeText: string) => (response: string) =>
  withText(response, (text) => {
    const match = cramMd5Response.exec(text)
    if (match === null) return fail(malformed("CRAM-MD5"))
    const [, user = "", digest = ""] = match
    return done({ _tag: "CramMd5", user, challenge: challengeText, digest: digest.toLowerCase() })
  })

// https://developers.google.com/workspace/gmail/imap/xoauth2-protocol:
// "user=" user ^A "auth=Bearer " token ^A ^A
const xoauth2 = (response: string): Step =>
  withText(response, (text) => {
    if (!text.endsWith("\x01\x01")) return fail(malformed("XOAUTH2"))
    const fields = new Map<string, string>()
    for (const field of text.slice(0, -2).split("\x01")) {
      const equals = field.indexOf("=")
      const key = field.slice(0, equals)
      if (equals <= 0 || fields.has(key)) return fail(malformed("XOAUTH2"))
      fields.set(key, field.slice(equals + 1))
    }
    const user = fields.get("user")
    // the scheme is case-insensitive, as in HTTP (RFC 6750 §2.1)
    const bearer = /^bearer (.+)$/is.exec(fields.get("auth") ?? "")
    const token = bearer?.[1]
    if (user === undefined || user === "" || token === undefined) return fail(malformed("XOAUTH2"))
    return done({ _tag: "OAuth2", user, token })
  })

/**
 * Starts an exchange for `mechanism`. `initialResponse` is the AUTH command's second argument
 * exactly as sent (base64, `=` for an empty one), or `undefined` when there was none; for LOGIN
 * it is the user name, as many clients send `AUTH LOGIN <base64 user>`. `context` makes the
 * CRAM-MD5 challenge `<nonce@hostname>` (RFC 2195): `nonce` must be unique per exchange.
 *
 * Each client line is given to `next` as sent, without its CRLF; the cancel line `*` (RFC 4954
 * §4) is the caller's to recognise. Lines that are not base64 fail with `501 5.5.2 Invalid
 * base64 data`, decoded text that is not UTF-8 and malformed responses with another `501 5.5.2`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  mechanism: Mechanism,
  initialResponse: string | undefined,
  context: { readonly hostname: string; readonly nonce: string }
): Step => {
  switch (mechanism) {
    case "PLAIN":
      // RFC 4954 §4: without an initial response, an empty challenge asks for one
      return initialResponse === undefined ? challenge("", plain) : plain(initial(initialResponse))
    case "LOGIN":
      return initialResponse === undefined ? challenge(usernamePrompt, loginUser) : loginUser(initial(initialResponse))
    case "CRAM-MD5": {
      // RFC 4954 §4: a mechanism where the server speaks first takes no initial response
      if (initialResponse !== undefined) {
        return fail(Reply.make(501, "5.5.2", "CRAM-MD5 does not allow an initial response"))
      }
      const text = `<${context.nonce}@${context.hostname}>`
      return challenge(Base64.encode(text), cramMd5(text))
    }
    case "XOAUTH2":
      return initialResponse === undefined ? challenge("", xoauth2) : xoauth2(initial(initialResponse))
  }
}
