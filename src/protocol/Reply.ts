/**
 * SMTP replies as values: a code, an optional enhanced status code (RFC 2034, RFC 3463) and
 * one or more lines of text, with the wire encoding and the catalogue of standard replies.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import { dual } from "effect/Function"

/**
 * @since 0.1.0
 * @category models
 */
export class Reply extends Data.Class<{
  readonly code: number
  readonly enhanced: string | undefined
  readonly lines: ReadonlyArray<string>
}> {
  /** 2xx and 3xx replies. */
  get isPositive(): boolean {
    return this.code < 400
  }
  /** 4xx replies. */
  get isTransient(): boolean {
    return this.code >= 400 && this.code < 500
  }
}

const enhancedPattern = /^[245]\.\d{1,3}\.\d{1,3}$/

/**
 * Is `code` a valid RFC 3463 status code (`class.subject.detail`)?
 *
 * @since 0.1.0
 * @category guards
 */
export const isEnhancedStatus = (code: string): boolean => enhancedPattern.test(code)

/**
 * Builds a reply. Text lines are cleaned of CR and LF so that no text can inject a reply.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (code: number, enhanced: string | undefined, text: string | ReadonlyArray<string>): Reply => {
  if (!Number.isInteger(code) || code < 200 || code > 599) throw new RangeError(`invalid SMTP reply code ${code}`)
  if (enhanced !== undefined && (!isEnhancedStatus(enhanced) || enhanced[0] !== String(code)[0])) {
    throw new RangeError(`enhanced status ${enhanced} does not fit reply code ${code}`)
  }
  const lines = (typeof text === "string" ? [text] : text).map((line) => line.replace(/[\r\n]+/g, " "))
  return new Reply({ code, enhanced, lines: lines.length === 0 ? [""] : lines })
}

/**
 * The same reply with other text.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withText: {
  (text: string | ReadonlyArray<string>): (self: Reply) => Reply
  (self: Reply, text: string | ReadonlyArray<string>): Reply
} = dual(2, (self: Reply, text: string | ReadonlyArray<string>) => make(self.code, self.enhanced, text))

/**
 * Encodes a reply for the wire: `250-first`, …, `250 last`, each line ending in CRLF. The
 * enhanced code is written on every line when `enhanced` is on (RFC 2034 §4).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (reply: Reply, enhanced: boolean): string => {
  const status = enhanced && reply.enhanced !== undefined ? `${reply.enhanced} ` : ""
  let out = ""
  const last = reply.lines.length - 1
  reply.lines.forEach((line, i) => {
    out += `${reply.code}${i === last ? " " : "-"}${status}${line}\r\n`
  })
  return out
}

/**
 * Parses one complete reply (all its lines, CRLF-terminated) — for clients and tests.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decode = (text: string): Reply => {
  const raw = text.split("\r\n").filter((line) => line !== "")
  const code = Number(raw[0]?.slice(0, 3))
  let enhanced: string | undefined
  const lines = raw.map((line) => {
    let rest = line.slice(4)
    const match = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/.exec(rest)
    if (match && match[1]![0] === String(code)[0]) {
      enhanced = match[1]
      rest = rest.slice(match[0].length)
    }
    return rest
  })
  return new Reply({ code, enhanced, lines })
}

// --- the catalogue (RFC 5321 §4.2, RFC 3463 codes) ---

/** @since 0.1.0 @category catalogue */
export const greeting = (hostname: string): Reply => make(220, undefined, `${hostname} ESMTP effect-smtpd`)
/** @since 0.1.0 @category catalogue */
export const helo = (hostname: string): Reply => make(250, undefined, hostname)
/** @since 0.1.0 @category catalogue */
export const ehlo = (hostname: string, keywords: ReadonlyArray<string>): Reply =>
  make(250, undefined, [hostname, ...keywords])
/** @since 0.1.0 @category catalogue */
export const senderOk: Reply = make(250, "2.1.0", "Ok")
/** @since 0.1.0 @category catalogue */
export const recipientOk: Reply = make(250, "2.1.5", "Ok")
/** @since 0.1.0 @category catalogue */
export const startData: Reply = make(354, undefined, "End data with <CR><LF>.<CR><LF>")
/** @since 0.1.0 @category catalogue */
export const accepted: Reply = make(250, "2.0.0", "Ok: message accepted")
/** @since 0.1.0 @category catalogue */
export const ok: Reply = make(250, "2.0.0", "Ok")
/** @since 0.1.0 @category catalogue */
export const closing: Reply = make(221, "2.0.0", "Bye")
/** @since 0.1.0 @category catalogue */
export const cannotVerify: Reply = make(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery")
/** @since 0.1.0 @category catalogue */
export const help = (verbs: ReadonlyArray<string>): Reply =>
  make(214, "2.0.0", `Supported commands: ${verbs.join(" ")}`)
/** @since 0.1.0 @category catalogue */
export const unknownCommand: Reply = make(500, "5.5.2", "Command unrecognized")
/** @since 0.1.0 @category catalogue */
export const lineTooLong: Reply = make(500, "5.5.6", "Line too long")
/** @since 0.1.0 @category catalogue */
export const notImplemented: Reply = make(502, "5.5.1", "Command not implemented")
/** @since 0.1.0 @category catalogue */
export const badSequence = (text: string): Reply => make(503, "5.5.1", text)
/** @since 0.1.0 @category catalogue */
export const syntaxError = (text: string): Reply => make(501, "5.5.4", text)
/** @since 0.1.0 @category catalogue */
export const badSender = (text: string): Reply => make(501, "5.1.7", text)
/** @since 0.1.0 @category catalogue */
export const badRecipient = (text: string): Reply => make(501, "5.1.3", text)
/** @since 0.1.0 @category catalogue */
export const parameterNotRecognized = (keyword: string): Reply =>
  make(555, "5.5.4", `Parameter ${keyword} not recognized`)
/** @since 0.1.0 @category catalogue */
export const noValidRecipients: Reply = make(554, "5.5.1", "No valid recipients")
/** @since 0.1.0 @category catalogue */
export const tooManyRecipients: Reply = make(452, "4.5.3", "Too many recipients")
/** @since 0.1.0 @category catalogue */
export const messageTooBig: Reply = make(552, "5.3.4", "Message size exceeds fixed maximum message size")
/** @since 0.1.0 @category catalogue */
export const bareLineEnding: Reply = make(550, "5.6.11", "Bare CR or LF not allowed in message content")
/** @since 0.1.0 @category catalogue */
export const commandDeadline: Reply = make(421, "4.4.2", "Command deadline exceeded, closing connection")
/** @since 0.1.0 @category catalogue */
export const bareLineEndingInCommand: Reply = make(500, "5.5.2", "Bare CR or LF not allowed in commands")
/** @since 0.1.0 @category catalogue */
export const utf8Required: Reply = make(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
/** @since 0.1.0 @category catalogue */
export const tooManyErrors: Reply = make(421, "4.7.0", "Too many errors, closing connection")
/** @since 0.1.0 @category catalogue */
export const idleTimeout: Reply = make(421, "4.4.2", "Idle timeout, closing connection")
/** @since 0.1.0 @category catalogue */
export const shuttingDown: Reply = make(421, "4.3.2", "Service shutting down, closing connection")
/** @since 0.1.0 @category catalogue */
export const localError: Reply = make(451, "4.3.0", "Requested action aborted: local error in processing")

/** @since 0.1.0 @category catalogue */
export const readyForTls: Reply = make(220, "2.0.0", "Ready to start TLS")
/** @since 0.1.0 @category catalogue */
export const tlsRequired: Reply = make(530, "5.7.0", "Must issue a STARTTLS command first")
/** @since 0.1.0 @category catalogue */
export const authRequired: Reply = make(530, "5.7.0", "Authentication required")
/** @since 0.1.0 @category catalogue */
export const encryptionRequired: Reply = make(
  538,
  "5.7.11",
  "Encryption required for requested authentication mechanism"
)
/** @since 0.1.0 @category catalogue */
export const unknownMechanism: Reply = make(504, "5.5.4", "Unrecognized authentication type")
/** @since 0.1.0 @category catalogue */
export const authSucceeded: Reply = make(235, "2.7.0", "Authentication successful")
/** @since 0.1.0 @category catalogue */
export const authFailed: Reply = make(535, "5.7.8", "Authentication credentials invalid")
/** @since 0.1.0 @category catalogue */
export const authCancelled: Reply = make(501, "5.0.0", "Authentication cancelled")
/** @since 0.1.0 @category catalogue */
export const tooManyAuthFailures: Reply = make(
  421,
  "4.7.0",
  "Too many failed authentication attempts, closing connection"
)
/** @since 0.1.0 @category catalogue */
export const protocolViolation: Reply = make(554, "5.5.0", "Protocol error: talking out of turn")
/** @since 0.1.0 @category catalogue */
export const dataTimeout: Reply = make(421, "4.4.2", "Timeout: data too slow, closing connection")
