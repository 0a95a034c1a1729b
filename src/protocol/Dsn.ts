/**
 * Delivery status notification requests (RFC 3461): MAIL's `RET` and `ENVID`, RCPT's `NOTIFY`
 * and `ORCPT`, checked and typed, and the xtext they are written in.
 *
 * @since 0.2.0
 */
import * as Result from "effect/Result"
import * as Ascii from "./Ascii.js"
import * as Reply from "./Reply.js"

/**
 * `RET=`: return the full message or only its headers in a failure notice.
 *
 * @since 0.2.0
 * @category models
 */
export type Ret = "FULL" | "HDRS"

/**
 * What MAIL asked for; `envid` is decoded from xtext.
 *
 * @since 0.2.0
 * @category models
 */
export interface MailDsn {
  readonly ret: Ret | undefined
  readonly envid: string | undefined
}

/**
 * `NOTIFY=`: `NEVER`, or when to notify.
 *
 * @since 0.2.0
 * @category models
 */
export type Notify = "NEVER" | ReadonlyArray<"SUCCESS" | "FAILURE" | "DELAY">

/**
 * What RCPT asked for; `orcpt.address` is decoded from xtext.
 *
 * @since 0.2.0
 * @category models
 */
export interface RcptDsn {
  readonly notify: Notify | undefined
  readonly orcpt: { readonly addressType: string; readonly address: string } | undefined
}

/**
 * A MAIL or RCPT parameter as the command codec gives it (`Parameters.Parameter`; named here
 * structurally so that Parameters may import this module without a cycle).
 *
 * @since 0.2.0
 * @category models
 */
export interface Parameter {
  readonly keyword: string
  readonly value?: string | undefined
}

const hexDigits = "0123456789ABCDEF"

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * Decodes xtext (RFC 3461 §4): `!`–`~` except `+` and `=` stand for themselves, `+XX` (two
 * upper-case hex digits) for the octet XX. The octets are read as UTF-8. `undefined` when the
 * text is not xtext or its octets are not UTF-8.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeXtext = (text: string): string | undefined => {
  const octets: Array<number> = []
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x2b) {
      // two digits must follow: indexOf("") is 0, so a short "+4" would read as "+40"
      const high = i + 2 < text.length ? hexDigits.indexOf(text[i + 1]!) : -1
      const low = i + 2 < text.length ? hexDigits.indexOf(text[i + 2]!) : -1
      if (high === -1 || low === -1) return undefined
      octets.push(high * 16 + low)
      i += 2
    } else if (code < 0x21 || code > 0x7e || code === 0x3d) return undefined
    else octets.push(code)
  }
  try {
    return utf8.decode(Uint8Array.from(octets))
  } catch {
    return undefined
  }
}

/**
 * Encodes text as xtext: `+`, `=` and every octet outside `!`–`~` (of the UTF-8 encoding)
 * become `+XX`.
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeXtext = (text: string): string => {
  let out = ""
  for (const octet of new TextEncoder().encode(text)) {
    out +=
      octet < 0x21 || octet > 0x7e || octet === 0x2b || octet === 0x3d
        ? `+${hexDigits[octet >> 4]}${hexDigits[octet & 15]}`
        : String.fromCharCode(octet)
  }
  return out
}

// RFC 3461 §4.2 and §4.4: ENVID and ORCPT's address are printable US-ASCII once decoded
const printableAscii = /^[\x20-\x7e]*$/

// RFC 3461 §4.2: addr-type = atom (RFC 5322 atext)
const atom = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/

// RFC 6533 §3: in utf-8 addresses `\x{HEX}` stands for a code point, `+`, `=` and `\` must be escaped
const utf8AddrText = /^(?:[\x21-\x2a\x2c-\x3c\x3e-\x5b\x5d-\x7e\u{80}-\u{10ffff}]|\\x\{[0-9A-F]{2,6}\})+$/u

const decodeUtf8Addr = (text: string): string | undefined => {
  if (!utf8AddrText.test(text)) return undefined
  let bad = false
  const decoded = text.replace(/\\x\{([0-9A-F]{2,6})\}/g, (_, hex: string) => {
    const codePoint = parseInt(hex, 16)
    if (codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) bad = true
    return bad ? "" : String.fromCodePoint(codePoint)
  })
  return bad ? undefined : decoded
}

const decodeAsciiXtext = (text: string): string | undefined => {
  const decoded = decodeXtext(text)
  return decoded !== undefined && printableAscii.test(decoded) ? decoded : undefined
}

const invalid = (keyword: string) => Result.fail(Reply.syntaxError(`Invalid ${keyword} value`))

/**
 * `RET=FULL|HDRS` (RFC 3461 §4.3), any case.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseRet = (value: string | undefined): Result.Result<Ret, Reply.Reply> => {
  const upper = value === undefined ? undefined : Ascii.upper(value)
  return upper === "FULL" || upper === "HDRS" ? Result.succeed(upper) : invalid("RET")
}

/**
 * `ENVID=xtext` (RFC 3461 §4.4): printable US-ASCII, at most 100 characters once decoded.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseEnvid = (value: string | undefined): Result.Result<string, Reply.Reply> => {
  const decoded = value === undefined ? undefined : decodeAsciiXtext(value)
  return decoded !== undefined && decoded.length > 0 && decoded.length <= 100
    ? Result.succeed(decoded)
    : invalid("ENVID")
}

/**
 * `NOTIFY=NEVER` or a list of `SUCCESS`, `FAILURE`, `DELAY` (RFC 3461 §4.1), any case, each
 * at most once.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseNotify = (value: string | undefined): Result.Result<Notify, Reply.Reply> => {
  if (value === undefined) return invalid("NOTIFY")
  const items = Ascii.upper(value).split(",")
  if (items.length === 1 && items[0] === "NEVER") return Result.succeed("NEVER")
  const out: Array<"SUCCESS" | "FAILURE" | "DELAY"> = []
  for (const item of items) {
    if (item !== "SUCCESS" && item !== "FAILURE" && item !== "DELAY") return invalid("NOTIFY")
    if (out.includes(item)) return invalid("NOTIFY")
    out.push(item)
  }
  return Result.succeed(out)
}

/**
 * `ORCPT=addr-type;address` (RFC 3461 §4.2). The address is xtext, or for `utf-8` the
 * `\x{HEX}` form of RFC 6533 §3; it is decoded, the type kept as given.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseOrcpt = (
  value: string | undefined
): Result.Result<{ readonly addressType: string; readonly address: string }, Reply.Reply> => {
  const semicolon = value === undefined ? -1 : value.indexOf(";")
  if (value === undefined || semicolon === -1) return invalid("ORCPT")
  const addressType = value.slice(0, semicolon)
  const encoded = value.slice(semicolon + 1)
  if (!atom.test(addressType) || encoded === "") return invalid("ORCPT")
  const address = Ascii.upper(addressType) === "UTF-8" ? decodeUtf8Addr(encoded) : decodeAsciiXtext(encoded)
  return address === undefined ? invalid("ORCPT") : Result.succeed({ addressType, address })
}

const duplicate = (keyword: string) => Result.fail(Reply.syntaxError(`Duplicate parameter ${keyword}`))

/**
 * The DSN requests of MAIL: `RET` and `ENVID`, each at most once; other keywords are not
 * looked at.
 *
 * @since 0.2.0
 * @category parsing
 */
export const mail = (parameters: ReadonlyArray<Parameter>): Result.Result<MailDsn, Reply.Reply> => {
  let ret: Ret | undefined
  let envid: string | undefined
  for (const { keyword, value } of parameters) {
    if (keyword === "RET") {
      if (ret !== undefined) return duplicate(keyword)
      const parsed = parseRet(value)
      if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
      ret = parsed.success
    } else if (keyword === "ENVID") {
      if (envid !== undefined) return duplicate(keyword)
      const parsed = parseEnvid(value)
      if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
      envid = parsed.success
    }
  }
  return Result.succeed({ ret, envid })
}

/**
 * The DSN requests of RCPT: `NOTIFY` and `ORCPT`, each at most once; other keywords are not
 * looked at.
 *
 * @since 0.2.0
 * @category parsing
 */
export const rcpt = (parameters: ReadonlyArray<Parameter>): Result.Result<RcptDsn, Reply.Reply> => {
  let notify: Notify | undefined
  let orcpt: RcptDsn["orcpt"]
  for (const { keyword, value } of parameters) {
    if (keyword === "NOTIFY") {
      if (notify !== undefined) return duplicate(keyword)
      const parsed = parseNotify(value)
      if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
      notify = parsed.success
    } else if (keyword === "ORCPT") {
      if (orcpt !== undefined) return duplicate(keyword)
      const parsed = parseOrcpt(value)
      if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
      orcpt = parsed.success
    }
  }
  return Result.succeed({ notify, orcpt })
}
