/**
 * Reverse and forward paths (RFC 5321 §4.1.2), with UTF-8 mailboxes (RFC 6531 §3.3).
 *
 * A path arrives as `<mailbox>` (optionally with an ignored source route, `<@a,@b:mailbox>`);
 * what the library hands on is the bare mailbox, `""` for the null reverse-path `<>`.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

// atext (RFC 5322 §3.2.3) and, for SMTPUTF8, any non-ASCII character (RFC 6531 §3.3)
const atext = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\u{80}-\\u{10FFFF}"
const dotString = new RegExp(`^[${atext}]+(?:\\.[${atext}]+)*$`, "u")
// RFC 5321 qtextSMTP and quoted-pairSMTP
const quotedString = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u{80}-\u{10FFFF}]|\\[\x20-\x7e])*"$/u
const letDig = "A-Za-z0-9\\u{80}-\\u{10FFFF}"
const subDomain = `[${letDig}](?:[${letDig}-]*[${letDig}])?`
const domainPattern = new RegExp(`^${subDomain}(?:\\.${subDomain})*$`, "u")
const ipv4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/
const generalLiteral = /^[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+$/

const isIpv6 = (text: string): boolean => {
  // RFC 5321 §4.1.3 IPv6-addr: full, compressed ("::"), optionally ending in an IPv4 address
  let rest = text
  let groups = 8
  const lastColon = rest.lastIndexOf(":")
  if (rest.slice(lastColon + 1).includes(".")) {
    if (!ipv4.test(rest.slice(lastColon + 1))) return false
    rest = rest.slice(0, lastColon + 1) + "0"
    groups = 7
  }
  const hex = /^[0-9A-Fa-f]{1,4}$/
  const halves = rest.split("::")
  if (halves.length > 2) return false
  const parts = halves.map((half) => (half === "" ? [] : half.split(":")))
  if (!parts.every((part) => part.every((group) => hex.test(group)))) return false
  const count = parts.reduce((n, part) => n + part.length, 0)
  return halves.length === 2 ? count < groups : count === groups
}

/**
 * Is `text` a domain or an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`)?
 *
 * @since 0.1.0
 * @category guards
 */
export const isDomain = (text: string): boolean => {
  if (text.startsWith("[") && text.endsWith("]")) {
    const literal = text.slice(1, -1)
    if (ipv4.test(literal)) return true
    if (/^IPv6:/i.test(literal)) return isIpv6(literal.slice(5))
    return generalLiteral.test(literal)
  }
  return domainPattern.test(text)
}

/**
 * Is `text` a mailbox, `local-part@domain`?
 *
 * @since 0.1.0
 * @category guards
 */
export const isMailbox = (text: string): boolean => {
  const at = text.lastIndexOf("@")
  if (at <= 0) return false
  const local = text.slice(0, at)
  return (dotString.test(local) || quotedString.test(local)) && isDomain(text.slice(at + 1))
}

/**
 * Does `text` use characters beyond ASCII (an address that needs SMTPUTF8)?
 *
 * @since 0.1.0
 * @category guards
 */
export const isAscii = (text: string): boolean => /^[\x00-\x7f]*$/.test(text)

/**
 * Removes the angle brackets and the source route (RFC 5321 §4.1.2 says to accept and ignore
 * it). Fails with a short reason.
 *
 * @since 0.1.0
 * @category parsing
 */
export const unbracket = (path: string): Result.Result<string, string> => {
  if (!path.startsWith("<") || !path.endsWith(">") || path.length < 2) {
    return Result.fail("Path must be enclosed in angle brackets")
  }
  const inner = path.slice(1, -1)
  if (!inner.startsWith("@")) return Result.succeed(inner)
  const colon = inner.indexOf(":")
  if (colon === -1) return Result.fail("Malformed source route")
  const route = inner.slice(0, colon).split(",")
  if (!route.every((hop) => hop.startsWith("@") && isDomain(hop.slice(1)))) {
    return Result.fail("Malformed source route")
  }
  return Result.succeed(inner.slice(colon + 1))
}

// octets of `text` in UTF-8, without encoding it: RFC 5321's limits count octets, and an
// SMTPUTF8 address's characters may take up to four each
const utf8Length = (text: string): number => {
  let octets = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) octets += 1
    else if (unit < 0x800) octets += 2
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      octets += 4 // a surrogate pair: one character beyond the BMP
      i++
    } else octets += 3
  }
  return octets
}

/**
 * What is too long in a mailbox by RFC 5321 §4.5.3.1 (a local part over 64 octets, a domain over
 * 255, a path, with its angle brackets, over 256), or `undefined` when nothing is. The null path
 * and Postmaster are short by nature.
 *
 * @since 0.1.0
 * @category guards
 */
export const tooLong = (mailbox: string): string | undefined => {
  const at = mailbox.lastIndexOf("@")
  if (at === -1) return undefined
  if (utf8Length(mailbox) + 2 > 256) return "Path too long (RFC 5321: 256 octets)"
  if (utf8Length(mailbox.slice(0, at)) > 64) return "Local part too long (RFC 5321: 64 octets)"
  if (utf8Length(mailbox.slice(at + 1)) > 255) return "Domain too long (RFC 5321: 255 octets)"
  return undefined
}

/**
 * `Reverse-path` content: a mailbox, or `""` for the null path `<>` (bounces).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReversePath = Schema.String.check(
  Schema.makeFilter((text: string) => text === "" || isMailbox(text) || "Invalid sender address", {
    identifier: "ReversePath"
  })
)

/**
 * `Forward-path` content: a mailbox, or `Postmaster` (any case) with no domain.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ForwardPath = Schema.String.check(
  Schema.makeFilter(
    (text: string) => text.toLowerCase() === "postmaster" || isMailbox(text) || "Invalid recipient address",
    { identifier: "ForwardPath" }
  )
)

/**
 * The domain part of a mailbox, lower-cased (`""` for the null path and `Postmaster`).
 *
 * @since 0.1.0
 * @category utils
 */
export const domainOf = (mailbox: string): string => {
  const at = mailbox.lastIndexOf("@")
  return at === -1 ? "" : mailbox.slice(at + 1).toLowerCase()
}
