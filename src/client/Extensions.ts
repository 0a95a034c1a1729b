/**
 * What an upstream server offers in its EHLO reply, and the envelope parameters it can take:
 * ours pass through when it offers their extension, and a message that needs an extension it
 * lacks is refused rather than corrupted.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Address from "../protocol/Address.js"
import type * as Parameters from "../protocol/Parameters.js"
import type * as Reply from "../protocol/Reply.js"
import { UpstreamUnsupported } from "./ClientError.js"

/**
 * EHLO keywords (upper case) and their parameters; empty after HELO.
 *
 * @since 0.1.0
 * @category models
 */
export type Extensions = ReadonlyMap<string, string>

/**
 * @since 0.1.0
 * @category constructors
 */
export const fromEhlo = (reply: Reply.Reply): Extensions =>
  new Map(
    reply.lines.slice(1).map((line) => {
      const [keyword = "", ...rest] = line.trim().split(/\s+/)
      return [keyword.toUpperCase(), rest.join(" ")] as const
    })
  )

// DSN (RFC 3461) parameters travel under one keyword
const dsn = new Set(["RET", "ENVID", "NOTIFY", "ORCPT"])

const offers = (extensions: Extensions, keyword: string) => extensions.has(dsn.has(keyword) ? "DSN" : keyword)

/**
 * The `BODY=` value of MAIL parameters, upper case (`7BIT`, `8BITMIME`, `BINARYMIME`), if any.
 *
 * @since 0.2.0
 * @category getters
 */
export const bodyOf = (parameters: Parameters.Parameters): string | undefined =>
  parameters.find((p) => p.keyword === "BODY")?.value?.toUpperCase()

/**
 * What the client may use of what the upstream offers: without `chunking`, neither CHUNKING nor
 * BINARYMIME (which needs it).
 *
 * @since 0.2.0
 * @category combinators
 */
export const usable = (extensions: Extensions, options: { readonly chunking: boolean }): Extensions =>
  options.chunking
    ? extensions
    : new Map([...extensions].filter(([keyword]) => keyword !== "CHUNKING" && keyword !== "BINARYMIME"))

/**
 * The MAIL parameters to send upstream: those whose extension it offers (DSN's `RET` and
 * `ENVID` only to a DSN server, RFC 3461 §4); a failure when the message is 8-bit, binary or
 * internationalized and the upstream cannot take it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const mailParameters = (
  extensions: Extensions,
  from: string,
  parameters: Parameters.Parameters,
  recipients: ReadonlyArray<string> = []
): Result.Result<Parameters.Parameters, UpstreamUnsupported> => {
  const declared = parameters.some((p) => p.keyword === "SMTPUTF8")
  if ((declared || !Address.isAscii(from)) && !extensions.has("SMTPUTF8")) {
    return Result.fail(new UpstreamUnsupported({ extension: "SMTPUTF8" }))
  }
  const body = bodyOf(parameters)
  if (body === "8BITMIME" && !extensions.has("8BITMIME")) {
    return Result.fail(new UpstreamUnsupported({ extension: "8BITMIME" }))
  }
  // RFC 3030 §3: binary content only goes in BDAT chunks
  if (body === "BINARYMIME" && !(extensions.has("BINARYMIME") && extensions.has("CHUNKING"))) {
    return Result.fail(new UpstreamUnsupported({ extension: "BINARYMIME" }))
  }
  const passed = parameters.filter((p) =>
    p.keyword === "BODY"
      ? extensions.has(body === "BINARYMIME" ? "BINARYMIME" : "8BITMIME")
      : offers(extensions, p.keyword)
  )
  // RFC 6531 §3.4: a UTF-8 address in the envelope needs SMTPUTF8 on MAIL
  const needsUtf8 = !Address.isAscii(from) || recipients.some((address) => !Address.isAscii(address))
  return Result.succeed(
    needsUtf8 && !declared && extensions.has("SMTPUTF8") ? [...passed, { keyword: "SMTPUTF8" }] : passed
  )
}

/**
 * The RCPT parameters to send upstream (DSN's `NOTIFY` and `ORCPT` only to a DSN server), or a failure for a UTF-8 address it cannot take.
 *
 * @since 0.1.0
 * @category combinators
 */
export const rcptParameters = (
  extensions: Extensions,
  to: string,
  parameters: Parameters.Parameters
): Result.Result<Parameters.Parameters, UpstreamUnsupported> =>
  !Address.isAscii(to) && !extensions.has("SMTPUTF8")
    ? Result.fail(new UpstreamUnsupported({ extension: "SMTPUTF8" }))
    : Result.succeed(parameters.filter((p) => offers(extensions, p.keyword)))
