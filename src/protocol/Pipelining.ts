/**
 * Unauthorized pipelining (Postfix's `smtpd_forbid_unauth_pipelining`): a client may send
 * commands without waiting for each reply only after an EHLO that offered PIPELINING, and even
 * then EHLO, HELO, DATA, VRFY, EXPN and NOOP must end their group (RFC 2920 §3.1). Spam engines
 * and SMTP smuggling rely on sending ahead; real clients never do.
 *
 * @since 0.1.0
 */
import * as Command from "./Command.js"
import type * as Framer from "./Framer.js"
import * as Session from "./Session.js"

const lastInGroup = new Set(["EHLO", "HELO", "LHLO", "DATA", "VRFY", "EXPN", "NOOP"])
// STARTTLS: what follows it is dropped, not refused (RFC 3207); AUTH may carry pipelined
// answers (RFC 4954 §4); after QUIT nothing is read
const exempt = new Set(["STARTTLS", "AUTH", "QUIT"])

// the verbs that matter here are ASCII and at most 8 bytes: the start of the line, byte for byte
const verbOf = (bytes: Uint8Array) => Command.verbOf(String.fromCharCode(...bytes.subarray(0, 9)))

/**
 * Is this command, with more input already behind it, sent out of turn?
 *
 * @since 0.1.0
 * @category predicates
 */
export const isViolation = (
  state: Session.SessionState,
  frame: Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>
): boolean => {
  if (frame._tag !== "Line") return false
  const verb = verbOf(frame.bytes)
  if (exempt.has(verb)) return false
  return !Session.isEsmtp(state) || lastInGroup.has(verb)
}

/**
 * Is this line an AUTH command?
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAuth = (frame: Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>): boolean =>
  frame._tag === "Line" && verbOf(frame.bytes) === "AUTH"
