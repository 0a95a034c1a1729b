/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): the line or block a
 * load balancer sends before anything else to say who the real client is. Pure and incremental:
 * call `parse` with everything received so far; on `Incomplete` read more and call it again with
 * the longer buffer. `Malformed` comes as soon as the bytes so far rule out a valid header, so a
 * client that is not a proxy is refused at its first bytes rather than at the timeout.
 *
 * @since 0.1.0
 */

/**
 * One end of the proxied connection. IPv4 in dotted decimal; IPv6 in the form Node gives
 * `socket.remoteAddress` (lower case, RFC 5952 compression, `::ffff:a.b.c.d` for mapped IPv4).
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint {
  readonly address: string
  readonly port: number
}

/**
 * What the proxy said: the real endpoints, or `Local` — use the connection's own addresses (v1
 * `UNKNOWN`, v2 `LOCAL` such as a health check, or a v2 family that is not TCP over IP).
 *
 * @since 0.1.0
 * @category models
 */
export type Header =
  { readonly _tag: "Proxied"; readonly source: Endpoint; readonly destination: Endpoint } | { readonly _tag: "Local" }

/**
 * The outcome of `parse`. `length` is how many bytes the header took: what follows is SMTP.
 *
 * @since 0.1.0
 * @category models
 */
export type Parsed =
  | { readonly _tag: "Incomplete" }
  | { readonly _tag: "Malformed"; readonly reason: string }
  | { readonly _tag: "Complete"; readonly header: Header; readonly length: number }

/**
 * The longest v1 header, CRLF included (proxy-protocol.txt §2.1).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxV1Length = 107

/**
 * The longest v2 payload (after the 16-byte fixed part) accepted: the largest address block
 * (two UNIX paths, 216 bytes) and 1 KiB of TLVs. The format allows 64 KiB; nothing a proxy has
 * to say about one TCP connection needs that much, and a peer announcing it is not a proxy.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxV2Payload = 216 + 1024

const incomplete: Parsed = { _tag: "Incomplete" }
const local: Header = { _tag: "Local" }
const malformed = (reason: string): Parsed => ({ _tag: "Malformed", reason })

// "PROXY " (§2.1) and the v2 signature "\r\n\r\n\0\r\nQUIT\n" (§2.2): they differ in their
// first byte, which therefore picks the version
const v1Signature = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]
const v2Signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

// do the bytes so far agree with the signature (as far as both go)?
const startsLike = (bytes: Uint8Array, signature: ReadonlyArray<number>): boolean => {
  const n = Math.min(bytes.length, signature.length)
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return false
  return true
}

/**
 * Parses a PROXY protocol header (v1 or v2) at the start of `bytes`. Never throws.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (bytes: Uint8Array): Parsed => {
  if (bytes.length === 0) return incomplete
  if (bytes[0] === v1Signature[0]) {
    return startsLike(bytes, v1Signature) ? parseV1(bytes) : malformed("not a PROXY protocol header")
  }
  if (bytes[0] === v2Signature[0]) {
    return startsLike(bytes, v2Signature) ? parseV2(bytes) : malformed("not a PROXY protocol header")
  }
  return malformed("not a PROXY protocol header")
}

// --- addresses -------------------------------------------------------------------------------

// no leading zeros: 010 reads as octal 8 to some parsers (proxy-protocol.txt §2.1 forbids them)
const v4Part = /^(?:0|[1-9]\d{0,2})$/

const parseV4 = (text: string): string | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  return parts.every((part) => v4Part.test(part) && Number(part) <= 255) ? text : undefined
}

const hexGroup = /^[0-9a-fA-F]{1,4}$/

// the eight 16-bit groups of an IPv6 address in text (RFC 4291 §2.2), or undefined
const parseV6Groups = (text: string): Array<number> | undefined => {
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  // a dotted IPv4 part may only be the last 32 bits
  const groups = (half: string, last32: boolean): Array<number> | undefined => {
    if (half === "") return []
    const parts = half.split(":")
    const out: Array<number> = []
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!
      if (last32 && i === parts.length - 1 && part.includes(".")) {
        if (parseV4(part) === undefined) return undefined
        const [a, b, c, d] = part.split(".").map(Number) as [number, number, number, number]
        out.push((a << 8) | b, (c << 8) | d)
      } else if (hexGroup.test(part)) out.push(parseInt(part, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0]!, halves.length === 1)
  const tail = halves.length === 2 ? groups(halves[1]!, true) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  // "::" stands for at least one group
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  return [...head, ...Array<number>(missing).fill(0), ...tail]
}

const dotted = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`

// RFC 5952 §4.2: the longest run of two or more zero groups becomes "::" (the first of equal
// runs), hex in lower case without leading zeros; and as libuv's inet_ntop (so Node's
// remoteAddress) does, an address whose first 96 bits are zero, or ::ffff:0:0/96, ends dotted
const formatV6 = (groups: ReadonlyArray<number>): string => {
  let base = -1
  let length = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > length && j - i >= 2) {
      base = i
      length = j - i
    }
    i = j
  }
  if (base === 0 && (length === 6 || (length === 5 && groups[5] === 0xffff))) {
    return `::${length === 5 ? "ffff:" : ""}${dotted(groups[6]!, groups[7]!)}`
  }
  const hex = (part: ReadonlyArray<number>) => part.map((group) => group.toString(16)).join(":")
  return base === -1 ? hex(groups) : `${hex(groups.slice(0, base))}::${hex(groups.slice(base + length))}`
}

const parseV6 = (text: string): string | undefined => {
  const groups = parseV6Groups(text)
  return groups === undefined ? undefined : formatV6(groups)
}

const portText = /^(?:0|[1-9]\d{0,4})$/

const parsePort = (text: string): number | undefined =>
  portText.test(text) && Number(text) <= 65535 ? Number(text) : undefined

// --- version 1 -------------------------------------------------------------------------------

const LF = 0x0a
const CR = 0x0d

const v1Protocols = ["TCP4", "TCP6", "UNKNOWN"] as const

// the characters a TCP4/TCP6 line may hold after "PROXY TCPx ", for the early check
const v1TcpCharacters = { TCP4: /^[0-9. ]*$/, TCP6: /^[0-9a-fA-F:. ]*$/ } as const

const latin1 = (bytes: Uint8Array, start: number, end: number): string => {
  let text = ""
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!)
  return text
}

// §2.1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF, or "PROXY UNKNOWN"
// then anything up to CRLF; one space between fields, at most 107 bytes in all
const parseV1 = (bytes: Uint8Array): Parsed => {
  if (bytes.length < v1Signature.length) return incomplete
  const limit = Math.min(bytes.length, maxV1Length)
  for (let i = v1Signature.length; i < limit; i++) {
    const byte = bytes[i]!
    if (byte === LF) {
      if (bytes[i - 1] !== CR) return malformed("v1 header ends in a bare LF")
      return completeV1(latin1(bytes, 0, i - 1), i + 1)
    }
    if (byte === CR && i + 1 < bytes.length && bytes[i + 1] !== LF) return malformed("v1 header has a CR without LF")
  }
  if (bytes.length >= maxV1Length) return malformed(`v1 header without CRLF in its first ${maxV1Length} bytes`)
  return partialV1(latin1(bytes, 0, bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length))
}

const completeV1 = (line: string, length: number): Parsed => {
  // UNKNOWN: "the receiver must ignore anything presented before the CRLF"
  if (line === "PROXY UNKNOWN" || line.startsWith("PROXY UNKNOWN ")) {
    return { _tag: "Complete", header: local, length }
  }
  const fields = line.split(" ")
  const protocol = fields[1]
  if (protocol !== "TCP4" && protocol !== "TCP6") return malformed("v1 protocol is not TCP4, TCP6 or UNKNOWN")
  if (fields.length !== 6) return malformed("v1 header does not have 6 fields separated by single spaces")
  const address = protocol === "TCP4" ? parseV4 : parseV6
  const source = address(fields[2]!)
  const destination = address(fields[3]!)
  if (source === undefined || destination === undefined)
    return malformed(`v1 address is not a valid ${protocol} address`)
  const sourcePort = parsePort(fields[4]!)
  const destinationPort = parsePort(fields[5]!)
  if (sourcePort === undefined || destinationPort === undefined) return malformed("v1 port is not 0-65535")
  return {
    _tag: "Complete",
    header: {
      _tag: "Proxied",
      source: { address: source, port: sourcePort },
      destination: { address: destination, port: destinationPort }
    },
    length
  }
}

// a line without its CRLF yet: malformed if no ending can make it valid (as far as cheaply seen)
const partialV1 = (text: string): Parsed => {
  const rest = text.slice(v1Signature.length)
  const protocol = v1Protocols.find((name) =>
    rest.length < name.length ? name.startsWith(rest) : rest.startsWith(name)
  )
  if (protocol === undefined || (rest.length > protocol.length && rest[protocol.length] !== " ")) {
    return malformed("v1 protocol is not TCP4, TCP6 or UNKNOWN")
  }
  if (protocol === "UNKNOWN") return incomplete
  if (!v1TcpCharacters[protocol].test(rest.slice(protocol.length))) return malformed("v1 header has a bad character")
  const fields = text.split(" ")
  if (fields.length > 6) return malformed("v1 header has more than 6 fields")
  // every field but the last is complete: check it now
  const address = protocol === "TCP4" ? parseV4 : parseV6
  for (let i = 2; i < fields.length - 1; i++) {
    const valid = i < 4 ? address(fields[i]!) !== undefined : parsePort(fields[i]!) !== undefined
    if (!valid) return malformed(i < 4 ? `v1 address is not a valid ${protocol} address` : "v1 port is not 0-65535")
  }
  return incomplete
}

// --- version 2 -------------------------------------------------------------------------------

const v2Fixed = 16

// §2.2: address block sizes by family (AF_INET, AF_INET6, AF_UNIX)
const addressBlock: Readonly<Record<number, number>> = { 0: 0, 1: 12, 2: 36, 3: 216 }

const readV6 = (bytes: Uint8Array, at: number): string => {
  const groups: Array<number> = []
  for (let i = 0; i < 8; i++) groups.push((bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!)
  return formatV6(groups)
}

const readPort = (bytes: Uint8Array, at: number): number => (bytes[at]! << 8) | bytes[at + 1]!

const parseV2 = (bytes: Uint8Array): Parsed => {
  // the version and command byte: 0x2 then 0x0 LOCAL or 0x1 PROXY; receivers must drop others
  if (bytes.length > 12) {
    if (bytes[12]! >> 4 !== 2) return malformed("v2 header has an unsupported version")
    if ((bytes[12]! & 0x0f) > 1) return malformed("v2 header has an unknown command")
  }
  const proxy = bytes.length > 12 && (bytes[12]! & 0x0f) === 1
  // the family and transport: values beyond UNIX and DGRAM "must be rejected as invalid";
  // with LOCAL the whole block is ignored, family included
  const family = bytes.length > 13 ? bytes[13]! >> 4 : 0
  if (proxy && bytes.length > 13 && (family > 3 || (bytes[13]! & 0x0f) > 2)) {
    return malformed("v2 header has an unknown address family or transport")
  }
  if (bytes.length < v2Fixed) return incomplete
  const payload = (bytes[14]! << 8) | bytes[15]!
  if (payload > maxV2Payload) return malformed(`v2 header longer than ${maxV2Payload} bytes`)
  const blockLength = proxy ? addressBlock[family]! : 0
  if (payload < blockLength) return malformed("v2 address block too short for its family")
  const length = v2Fixed + payload
  if (bytes.length < length) return incomplete
  if (!proxy) return { _tag: "Complete", header: local, length }
  // the TLVs after the addresses are skipped, but must fit exactly (an UNSPEC block is opaque)
  if (family !== 0) {
    let at = v2Fixed + blockLength
    while (at < length) {
      if (at + 3 > length) return malformed("v2 TLV is truncated")
      at += 3 + ((bytes[at + 1]! << 8) | bytes[at + 2]!)
    }
    if (at !== length) return malformed("v2 TLV runs past the header")
  }
  const stream = (bytes[13]! & 0x0f) === 1
  // TCP over IPv4 or IPv6 is what we can use; for anything else the receiver must use the real
  // connection endpoints (§2.2)
  if (!stream || (family !== 1 && family !== 2)) return { _tag: "Complete", header: local, length }
  const header: Header =
    family === 1
      ? {
          _tag: "Proxied",
          source: { address: `${bytes[16]}.${bytes[17]}.${bytes[18]}.${bytes[19]}`, port: readPort(bytes, 24) },
          destination: { address: `${bytes[20]}.${bytes[21]}.${bytes[22]}.${bytes[23]}`, port: readPort(bytes, 26) }
        }
      : {
          _tag: "Proxied",
          source: { address: readV6(bytes, 16), port: readPort(bytes, 48) },
          destination: { address: readV6(bytes, 32), port: readPort(bytes, 50) }
        }
  return { _tag: "Complete", header, length }
}
