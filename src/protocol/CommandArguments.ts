/**
 * The arguments of the commands that have more than text: MAIL's and RCPT's path and
 * parameters, BDAT's size and LAST. Parse failures carry the reply they call for
 * (`CommandFailure`).
 *
 * @since 0.2.0
 */
import * as Result from "effect/Result"
import * as Address from "./Address.js"
import * as Ascii from "./Ascii.js"
import { fail } from "./CommandFailure.js"
import * as Parameters from "./Parameters.js"

// `FROM:<path> params` → path and params; honours quoted local parts containing `>`
const splitPath = (rest: string, prefix: string) => {
  if (Ascii.upper(rest.slice(0, prefix.length)) !== prefix) return undefined
  const text = rest.slice(prefix.length).replace(/^ /, "") // tolerate one space after the colon
  if (!text.startsWith("<")) return undefined
  let quoted = false
  for (let i = 1; i < text.length; i++) {
    const c = text[i]
    if (quoted && c === "\\") i++
    else if (c === '"') quoted = !quoted
    else if (c === ">" && !quoted) {
      const after = text.slice(i + 1)
      if (after !== "" && !after.startsWith(" ")) return undefined
      return { path: text.slice(0, i + 1), params: after }
    }
  }
  return undefined
}

/**
 * `MAIL FROM:<path> [parameters]` or `RCPT TO:<path> [parameters]`, after the verb.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parsePathCommand = (tag: "Mail" | "Rcpt", line: string, rest: string) => {
  const usage = tag === "Mail" ? "Syntax: MAIL FROM:<address> [parameters]" : "Syntax: RCPT TO:<address> [parameters]"
  const parts = splitPath(rest, tag === "Mail" ? "FROM:" : "TO:")
  if (parts === undefined) return fail("syntax", line, usage)
  const parameters = Parameters.parse(parts.params)
  if (parameters === undefined) return fail("syntax", line, "Malformed parameter")
  const mailbox = Address.unbracket(parts.path)
  if (Result.isFailure(mailbox)) return fail(tag === "Mail" ? "sender" : "recipient", line, mailbox.failure)
  return Result.succeed(
    tag === "Mail"
      ? { _tag: "Mail" as const, from: mailbox.success, parameters }
      : { _tag: "Rcpt" as const, to: mailbox.success, parameters }
  )
}

/**
 * `BDAT size [LAST]` (RFC 3030 §2), after the verb. A size beyond 2^53 cannot be counted, so
 * its chunk could not be skipped: a syntax error.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseBdat = (line: string, args: string) => {
  const match = /^(\d{1,15})(?:[ \t]+(last))?$/i.exec(args)
  if (match === null) return fail("syntax", line, "Syntax: BDAT count [LAST]")
  return Result.succeed({ _tag: "Bdat" as const, size: Number(match[1]), last: match[2] !== undefined })
}
