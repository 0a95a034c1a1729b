/**
 * The messages simple enough to parse without a MIME library: one text/plain part in UTF-8 or
 * ASCII, not transfer-encoded, under an ASCII header section with no encoded word and with
 * plain address lists. Most mail an application sends to a catcher without HTML is like that.
 * For such a message `parse` gives what mailparser gives through NodeMimeParser, without its
 * streams (test/inbox/SimpleMessage.test.ts compares the two on generated messages); for any
 * other message it answers `undefined`, and the library parses it.
 *
 * @since 0.2.0
 */
import type * as InboxMessage from "./InboxMessage.js"
import * as MessageHeaders from "./MessageHeaders.js"

// a longer header section is left to the library, which bounds it
const maxHeaderBytes = 64 * 1024

// the index past the blank line that ends the header section, or -1 when a byte before it is not
// printable ASCII, a tab or half of a CRLF (or when there is no header or no blank line)
const headerEnd = (raw: Uint8Array): number => {
  const limit = Math.min(raw.length, maxHeaderBytes)
  let lineStart = 0
  for (let i = 0; i < limit; i++) {
    const byte = raw[i]!
    if (byte === 13) {
      if (raw[i + 1] !== 10) return -1
      if (i === lineStart) return i === 0 ? -1 : i + 2
      lineStart = ++i + 1
    } else if (byte > 126 || (byte < 32 && byte !== 9)) return -1
  }
  return -1
}

const text = new TextDecoder("utf-8", { ignoreBOM: true })

// the header section's fields as they stand (continuation lines kept), or undefined when one
// does not start with a name and a colon
const fieldsOf = (section: string): Array<string> | undefined => {
  const fields: Array<string> = []
  for (const line of section.split("\r\n")) {
    const first = line.charCodeAt(0)
    if (first === 32 || first === 9) {
      if (fields.length === 0) return undefined
      fields[fields.length - 1] += `\r\n${line}`
    } else if (/^[\x21-\x39\x3b-\x7e]+:/.test(line)) fields.push(line)
    else return undefined
  }
  return fields
}

// an address without quoting, comments or an internationalized domain
const addrSpec = "[A-Za-z0-9_%+-][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*"
const bare = new RegExp(`^<?(${addrSpec})>?$`)
const atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
const named = new RegExp(`^(?:(${atom}(?: ${atom})*)|"([A-Za-z0-9 ,.:;@<>()'-]*)") ?<(${addrSpec})>$`)

// the items of a list, split at the commas outside quotes; undefined when a quote is left open
const items = (value: string): Array<string> | undefined => {
  const out: Array<string> = []
  let start = 0
  let quoted = false
  for (let i = 0; i <= value.length; i++) {
    const char = value[i]
    if (char === '"') quoted = !quoted
    else if (!quoted && (char === "," || i === value.length)) {
      out.push(value.slice(start, i).trim())
      start = i + 1
    }
  }
  return quoted ? undefined : out
}

// one plain mailbox (`a@b`, `<a@b>`, `Name <a@b>`, `"Name, Q." <a@b>`), or undefined
const mailbox = (item: string): InboxMessage.Address | undefined => {
  const plain = bare.exec(item)
  const withName = plain === null ? named.exec(item) : null
  const address = plain?.[1] ?? withName?.[3]
  if (address === undefined || /xn--/i.test(address)) return undefined
  if (plain !== null) return item.startsWith("<") === item.endsWith(">") ? { Name: "", Address: address } : undefined
  return { Name: (withName![1] ?? withName![2]!).trim(), Address: address }
}

// a list of plain mailboxes, or undefined when an item is anything else (or empty)
const addressList = (value: string): Array<InboxMessage.Address> | undefined => {
  if (value === "") return []
  const list = items(value)
  if (list === undefined) return undefined
  const out: Array<InboxMessage.Address> = []
  for (const item of list) {
    const address = mailbox(item)
    if (address === undefined) return undefined
    out.push(address)
  }
  return out
}

interface Fields {
  subject?: string
  messageId?: string
  date?: number
  from?: ReadonlyArray<InboxMessage.Address>
  replyTo?: ReadonlyArray<InboxMessage.Address>
  to: Array<InboxMessage.Address>
  cc: Array<InboxMessage.Address>
  bcc: Array<InboxMessage.Address>
  typed: boolean
  encoded: boolean
}

// a charset the library reads as UTF-8 without a decoder of its own
const utf8Charset = /^\s*text\/plain\s*(?:;\s*charset\s*=\s*(?:"(?:us-ascii|utf-8)"|us-ascii|utf-8)\s*)?$/i

// reads one field into `fields`; false when it takes the message off the simple path
const read = (fields: Fields, key: string, value: string): boolean => {
  switch (key) {
    case "content-type":
      if (fields.typed) return false
      fields.typed = true
      return utf8Charset.test(value)
    case "content-transfer-encoding":
      if (fields.encoded) return false
      fields.encoded = true
      return /^(?:7bit|8bit|binary)$/i.test(value)
    case "content-disposition":
      return false
    case "subject":
      if (fields.subject === undefined && value !== "") fields.subject = value
      return true
    case "message-id":
      if (fields.messageId === undefined && value !== "") fields.messageId = value.replace(/^<|>$/g, "")
      return true
    case "date": {
      if (fields.date !== undefined) return true
      fields.date = new Date(value).getTime()
      return !Number.isNaN(fields.date)
    }
    case "from":
    case "reply-to": {
      const which = key === "from" ? "from" : "replyTo"
      if (fields[which] !== undefined) return true
      const list = addressList(value)
      if (list === undefined) return false
      fields[which] = list
      return true
    }
    case "to":
    case "cc":
    case "bcc": {
      const list = addressList(value)
      if (list === undefined) return false
      fields[key].push(...list)
      return true
    }
  }
  return true
}

/**
 * The parse of a simple message, or `undefined` for any other.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (raw: Uint8Array): InboxMessage.Parsed | undefined => {
  const end = headerEnd(raw)
  if (end < 0) return undefined
  const section = text.decode(raw.subarray(0, end - 4))
  if (section.includes("=?")) return undefined
  const lines = fieldsOf(section)
  if (lines === undefined) return undefined
  const fields: Fields = { to: [], cc: [], bcc: [], typed: false, encoded: false }
  const headers: Array<readonly [string, string]> = []
  for (const line of lines) {
    const colon = line.indexOf(":")
    const value = line
      .slice(colon + 1)
      .replace(/\r\n[ \t]*/g, " ")
      .trim()
    if (!read(fields, line.slice(0, colon).toLowerCase(), value)) return undefined
    headers.push(MessageHeaders.field(line))
  }
  return {
    messageId: fields.messageId ?? "",
    subject: fields.subject ?? "",
    from: fields.from?.[0] ?? null,
    to: fields.to,
    cc: fields.cc,
    bcc: fields.bcc,
    replyTo: fields.replyTo ?? [],
    returnPath: MessageHeaders.returnPathOf(headers),
    date: fields.date,
    // what mailparser does to a text part's line ends (/\r?\n/ to "\n"), without a pattern
    text: text.decode(raw.subarray(end)).replaceAll("\r\n", "\n"),
    html: "",
    attachments: [],
    inline: [],
    contents: new Map(),
    headers,
    tags: MessageHeaders.tagsOf(headers)
  }
}
