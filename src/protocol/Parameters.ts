/**
 * ESMTP parameters of MAIL and RCPT (`KEYWORD[=value]`, RFC 5321 §4.1.2) and the checks of the
 * ones this server knows: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Ascii from "./Ascii.js"
import * as Reply from "./Reply.js"

/**
 * esmtp-keyword (RFC 5321 §4.1.2), upper case.
 *
 * @since 0.1.0
 * @category schemas
 */
export const keywordPattern = /^[A-Z0-9][A-Z0-9-]*$/

/**
 * esmtp-value (RFC 5321 §4.1.2), with UTF-8 allowed (RFC 6531).
 *
 * @since 0.1.0
 * @category schemas
 */
export const valuePattern = /^[\x21-\x3c\x3e-\x7e\u{80}-\u{10FFFF}]+$/u

/**
 * @since 0.1.0
 * @category schemas
 */
export const Keyword = Schema.String.check(Schema.isPattern(keywordPattern))

/**
 * `esmtp-value`: printable characters except `=` and space (UTF-8 allowed, RFC 6531 §3.3).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Value = Schema.String.check(Schema.isPattern(valuePattern))

/**
 * @since 0.1.0
 * @category schemas
 */
export const Parameter = Schema.Struct({ keyword: Keyword, value: Schema.optionalKey(Value) })

/**
 * @since 0.1.0
 * @category models
 */
export type Parameter = typeof Parameter.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const Parameters = Schema.Array(Parameter)

/**
 * @since 0.1.0
 * @category models
 */
export type Parameters = typeof Parameters.Type

/**
 * Parses the space-separated parameters after a path; `undefined` on a malformed one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): ReadonlyArray<{ keyword: string; value?: string }> | undefined => {
  const out: Array<{ keyword: string; value?: string }> = []
  if (text === "") return out
  for (const token of text.split(" ")) {
    if (token === "") continue
    const eq = token.indexOf("=")
    const keyword = Ascii.upper(eq === -1 ? token : token.slice(0, eq))
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(keyword)) return undefined
    out.push(eq === -1 ? { keyword } : { keyword, value: token.slice(eq + 1) })
  }
  return out
}

/**
 * `KEYWORD` or `KEYWORD=value`, as smtpd passed them in `mail_options` / `rcpt_options`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const format = (parameter: Parameter): string =>
  parameter.value === undefined ? parameter.keyword : `${parameter.keyword}=${parameter.value}`

/**
 * The body type declared with BODY= (RFC 6152).
 *
 * @since 0.1.0
 * @category models
 */
export type BodyType = "7BIT" | "8BITMIME"

/**
 * What the MAIL parameters declared, once checked.
 *
 * @since 0.1.0
 * @category models
 */
export interface MailOptions {
  readonly size: number | undefined
  readonly body: BodyType | undefined
  readonly smtpUtf8: boolean
}

/**
 * Which MAIL parameters the server offers, and its size limit (0 = none).
 *
 * @since 0.1.0
 * @category models
 */
export interface Offered {
  readonly eightBitMime: boolean
  readonly smtpUtf8: boolean
  readonly maxMessageSize: number
  /** AUTH is offered: MAIL may carry `AUTH=` (RFC 4954 §5). */
  readonly auth?: boolean | undefined
}

const duplicate = (parameters: Parameters): string | undefined => {
  const seen = new Set<string>()
  for (const { keyword } of parameters) {
    if (seen.has(keyword)) return keyword
    seen.add(keyword)
  }
  return undefined
}

/**
 * Checks MAIL parameters: unknown ones get 555, malformed ones 501, a declared SIZE over the
 * limit 552 (RFC 1870 §6.1).
 *
 * @since 0.1.0
 * @category validation
 */
export const checkMail = (parameters: Parameters, offered: Offered): Result.Result<MailOptions, Reply.Reply> => {
  const twice = duplicate(parameters)
  if (twice !== undefined) return Result.fail(Reply.syntaxError(`Duplicate parameter ${twice}`))
  let size: number | undefined
  let body: BodyType | undefined
  let smtpUtf8 = false
  for (const { keyword, value } of parameters) {
    switch (keyword) {
      case "SIZE": {
        if (value === undefined || !/^\d{1,20}$/.test(value))
          return Result.fail(Reply.syntaxError("Invalid SIZE value"))
        size = Number(value)
        if (offered.maxMessageSize > 0 && size > offered.maxMessageSize) return Result.fail(Reply.messageTooBig)
        break
      }
      case "BODY": {
        if (!offered.eightBitMime) return Result.fail(Reply.parameterNotRecognized(keyword))
        const upper = value === undefined ? undefined : Ascii.upper(value)
        if (upper !== "7BIT" && upper !== "8BITMIME") {
          return Result.fail(Reply.syntaxError("BODY must be 7BIT or 8BITMIME"))
        }
        body = upper
        break
      }
      case "SMTPUTF8": {
        if (!offered.smtpUtf8) return Result.fail(Reply.parameterNotRecognized(keyword))
        if (value !== undefined) return Result.fail(Reply.syntaxError("SMTPUTF8 takes no value"))
        smtpUtf8 = true
        break
      }
      case "AUTH": {
        if (offered.auth !== true) return Result.fail(Reply.parameterNotRecognized(keyword))
        // an xtext mailbox or <>; we take note of nothing from it (RFC 4954 §5 lets us ignore it)
        if (value === undefined) return Result.fail(Reply.syntaxError("AUTH needs a value"))
        break
      }
      default:
        return Result.fail(Reply.parameterNotRecognized(keyword))
    }
  }
  return Result.succeed({ size, body, smtpUtf8 })
}

/**
 * Checks RCPT parameters: none are offered yet, so any one gets 555.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkRcpt = (parameters: Parameters): Result.Result<void, Reply.Reply> => {
  const first = parameters[0]
  return first === undefined ? Result.void : Result.fail(Reply.parameterNotRecognized(first.keyword))
}
