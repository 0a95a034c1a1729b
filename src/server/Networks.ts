/**
 * IP networks in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`), and whether a client's address
 * falls in one: for `relayNetworks` and other lists of trusted clients. Pure; IPv4-mapped IPv6
 * addresses (`::ffff:192.0.2.1`, what a dual-stack socket reports) count as IPv4.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"

/**
 * @since 0.1.0
 * @category models
 */
export interface Network {
  readonly family: 4 | 6
  readonly base: bigint
  readonly prefix: number
  /** As written, for messages. */
  readonly text: string
}

/**
 * Loopback only: the safe default for who may relay.
 *
 * @since 0.1.0
 * @category constants
 */
export const loopback: ReadonlyArray<string> = ["127.0.0.0/8", "::1/128"]

// four decimal octets, read character by character (it runs for every connection and every
// relay check): no leading zeros, as some parsers read 010 as octal 8 (the ambiguity of
// CVE-2021-29418), nothing over 255, nothing else
const parseV4 = (text: string): bigint | undefined => {
  let value = 0
  let octet = 0
  let digits = 0
  let octets = 0
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 46 // the end closes the last octet
    if (code === 46) {
      if (digits === 0 || ++octets > 4) return undefined
      value = value * 256 + octet
      octet = 0
      digits = 0
    } else if (code >= 48 && code <= 57) {
      if (digits === 1 && octet === 0) return undefined
      octet = octet * 10 + (code - 48)
      if (++digits > 3 || octet > 255) return undefined
    } else return undefined
  }
  return octets === 4 ? BigInt(value) : undefined
}

const parseV6 = (text: string): bigint | undefined => {
  const address = text.replace(/%.*$/, "") // a zone (fe80::1%eth0) is not part of the address
  const halves = address.split("::")
  if (halves.length > 2) return undefined
  // a dotted IPv4 part may only be the last 32 bits (RFC 4291 §2.2)
  const groups = (half: string, last32: boolean): Array<string> | undefined => {
    if (half === "") return []
    const parts = half.split(":")
    const last = parts.at(-1)!
    if (last.includes(".")) {
      if (!last32) return undefined
      const v4 = parseV4(last)
      if (v4 === undefined) return undefined
      parts.splice(-1, 1, (v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16))
    }
    return parts.every((part) => /^[0-9a-fA-F]{1,4}$/.test(part)) ? parts : undefined
  }
  const head = groups(halves[0]!, halves.length === 1)
  const tail = halves.length === 2 ? groups(halves[1]!, true) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  let value = 0n
  for (const group of [...head, ...Array<string>(missing).fill("0"), ...tail])
    value = (value << 16n) | BigInt(`0x${group}`)
  return value
}

const mapped = 0xffffn << 32n

/**
 * An address as a number and its family; IPv4-mapped IPv6 becomes IPv4.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAddress = (text: string): { readonly family: 4 | 6; readonly value: bigint } | undefined => {
  const v4 = parseV4(text)
  if (v4 !== undefined) return { family: 4, value: v4 }
  const v6 = parseV6(text)
  if (v6 === undefined) return undefined
  return v6 >> 32n === 0xffffn ? { family: 4, value: v6 & ~mapped } : { family: 6, value: v6 }
}

const bits = (family: 4 | 6) => (family === 4 ? 32 : 128)

/**
 * Parses `address/prefix`, or a lone address (a network of one).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Result.Result<Network, string> => {
  const [address = "", length, ...rest] = text.trim().split("/")
  const parsed = parseAddress(address)
  if (parsed === undefined || rest.length > 0) return Result.fail(`not an IP network: ${text}`)
  const width = bits(parsed.family)
  // a mapped address with an IPv6 prefix length: count it in the IPv4 part
  const offset = parsed.family === 4 && address.includes(":") ? 96 : 0
  const prefix = length === undefined ? width : /^\d{1,3}$/.test(length) ? Number(length) - offset : NaN
  if (!(prefix >= 0 && prefix <= width)) return Result.fail(`bad prefix length in ${text}`)
  const mask = ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix)
  return Result.succeed({ family: parsed.family, base: parsed.value & mask, prefix, text })
}

/**
 * Parses a list; the first bad entry is the error.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAll = (texts: ReadonlyArray<string>): Result.Result<ReadonlyArray<Network>, string> =>
  Result.all(texts.map(parse))

/**
 * Is the address in one of the networks? An address that does not parse is in none.
 *
 * @since 0.1.0
 * @category predicates
 */
export const contains = (networks: ReadonlyArray<Network>, address: string): boolean => {
  // a Unix socket's client is a process on this machine: it counts as loopback
  const parsed = parseAddress(address.startsWith("unix:") ? "127.0.0.1" : address)
  if (parsed === undefined) return false
  const width = bits(parsed.family)
  return networks.some(
    (network) =>
      network.family === parsed.family &&
      parsed.value >> BigInt(width - network.prefix) === network.base >> BigInt(width - network.prefix)
  )
}

/**
 * Who counts as one client for per-client limits: an IPv4 address, or an IPv6 /64 (one
 * customer's allocation, which a client can hop around in at will).
 *
 * @since 0.1.0
 * @category getters
 */
export const clientKey = (address: string): string => {
  const parsed = parseAddress(address)
  if (parsed === undefined) return address
  return parsed.family === 4 ? `v4:${parsed.value}` : `v6:${(parsed.value >> 64n).toString(16)}/64`
}
