/**
 * ESMTP parameters of MAIL and RCPT (`KEYWORD[=value]`, RFC 5321 §4.1.2) and the checks of the
 * ones this server knows: SIZE (RFC 1870), BODY (RFC 6152, BINARYMIME of RFC 3030), SMTPUTF8
 * (RFC 6531), AUTH (RFC 4954), and DSN's RET, ENVID, NOTIFY and ORCPT (RFC 3461).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Ascii from "./Ascii.js"
import * as Dsn from "./Dsn.js"
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
 * The body type declared with BODY= (RFC 6152; BINARYMIME, RFC 3030 §3, only with CHUNKING).
 *
 * @since 0.1.0
 * @category models
 */
export type BodyType = "7BIT" | "8BITMIME" | "BINARYMIME"

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
  /** `RET=` (RFC 3461 §4.3). */
  readonly ret: Dsn.Ret | undefined
  /** `ENVID=`, decoded from xtext (RFC 3461 §4.4). */
  readonly envid: string | undefined
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
  /** CHUNKING is offered: BODY may be BINARYMIME (RFC 3030 §3). */
  readonly chunking: boolean
  /** DSN is offered: MAIL may carry RET and ENVID, RCPT NOTIFY and ORCPT (RFC 3461). */
  readonly dsn: boolean
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

const checkBody = (value: string | undefined, offered: Offered): Result.Result<BodyType, Reply.Reply> => {
  const upper = value === undefined ? undefined : Ascii.upper(value)
  if (upper === "7BIT" || upper === "8BITMIME") return Result.succeed(upper)
  // RFC 3030 §3: BINARYMIME only where CHUNKING is offered
  if (!offered.chunking) return Result.fail(Reply.syntaxError("BODY must be 7BIT or 8BITMIME"))
  if (upper === "BINARYMIME") return Result.succeed(upper)
  return Result.fail(Reply.syntaxError("BODY must be 7BIT, 8BITMIME or BINARYMIME"))
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
        const checked = checkBody(value, offered)
        if (Result.isFailure(checked)) return Result.fail(checked.failure)
        body = checked.success
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
      case "RET":
      case "ENVID": {
        if (!offered.dsn) return Result.fail(Reply.parameterNotRecognized(keyword))
        break
      }
      default:
        return Result.fail(Reply.parameterNotRecognized(keyword))
    }
  }
  // RET and ENVID are checked here, once each is known to be offered and given once
  const dsn = Dsn.mail(parameters)
  if (Result.isFailure(dsn)) return Result.fail(dsn.failure)
  return Result.succeed({ size, body, smtpUtf8, ret: dsn.success.ret, envid: dsn.success.envid })
}

/**
 * Checks RCPT parameters: NOTIFY and ORCPT where DSN is offered (malformed ones get 501),
 * any other one 555. The DSN requests, or `undefined` when the client made none.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkRcpt = (
  parameters: Parameters,
  offered: { readonly dsn: boolean }
): Result.Result<Dsn.RcptDsn | undefined, Reply.Reply> => {
  const twice = duplicate(parameters)
  if (twice !== undefined) return Result.fail(Reply.syntaxError(`Duplicate parameter ${twice}`))
  for (const { keyword } of parameters) {
    if (!offered.dsn || (keyword !== "NOTIFY" && keyword !== "ORCPT")) {
      return Result.fail(Reply.parameterNotRecognized(keyword))
    }
  }
  if (parameters.length === 0) return Result.succeed(undefined)
  return Dsn.rcpt(parameters)
}
