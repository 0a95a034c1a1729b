/**
 * Parses a captured message with mailparser's streaming `MailParser` (docs/inbox.md says why
 * that library): addresses, subject, text, HTML, attachments and inline parts with Mailpit-style
 * part ids, and the header section in order. Never fails: what cannot be parsed is left empty
 * (the raw source is always kept beside it).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type { AddressObject, AttachmentStream, EmailAddress, HeaderLines, MessageText } from "mailparser"
import type * as InboxMessage from "../inbox/InboxMessage.js"
import * as MessageHeaders from "../inbox/MessageHeaders.js"
import * as SimpleMessage from "../inbox/SimpleMessage.js"

// the library is loaded when the first message is parsed: a command that runs no inbox never
// pays for it. The promise is kept: each `import()` goes through the module loader again.
let loaded: Promise<typeof import("mailparser")> | undefined
const library = () => (loaded ??= import("mailparser"))

const options = {
  // 1,000 parts (the root counts as one) must parse; past 10,000 the rest is left out
  maxChildNodes: 10_000,
  // text made from HTML-only mail: bounded, a 5 MiB HTML body would take a second
  maxHtmlLengthToParse: 2 * 1024 * 1024,
  skipTextToHtml: true,
  skipImageLinks: true,
  checksumAlgo: "md5"
}

// mailboxes of one field, groups flattened
const mailboxes = (value: AddressObject | ReadonlyArray<AddressObject> | undefined): Array<InboxMessage.Address> => {
  const objects = value === undefined ? [] : Array.isArray(value) ? value : [value as AddressObject]
  const out: Array<InboxMessage.Address> = []
  const add = (address: EmailAddress) => {
    if (address.group !== undefined) address.group.forEach(add)
    else if (address.address !== undefined || address.name !== "")
      out.push({ Name: address.name ?? "", Address: address.address ?? "" })
  }
  for (const object of objects) object.value.forEach(add)
  return out
}

// mailparser hands header lines over as latin1 (one character a byte): 8-bit header text
// (SMTPUTF8) is UTF-8, shown as such when it decodes
const utf8 = new TextDecoder("utf-8", { fatal: true })
const decoded = (line: string): string => {
  if (!/[\x80-\xff]/.test(line)) return line
  try {
    return utf8.decode(Buffer.from(line, "latin1"))
  } catch {
    return line
  }
}

// an attachment's bytes, read from its stream
const collect = (attachment: AttachmentStream): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    attachment.content.on("data", (chunk: Buffer) => chunks.push(chunk))
    attachment.content.on("error", reject)
    attachment.content.on("end", () => {
      attachment.release?.()
      // a Buffer is a Uint8Array: no second copy of a large attachment
      resolve(Buffer.concat(chunks))
    })
  })

interface Collected {
  headerLines: HeaderLines
  text: string
  html: string
  parts: Array<{ readonly stream: AttachmentStream; readonly content: Uint8Array }>
}

const run = async (raw: Uint8Array) => {
  const { MailParser } = await library()
  const parser = new MailParser(options)
  const collected: Collected = { headerLines: [], text: "", html: "", parts: [] }
  const pending: Array<Promise<void>> = []
  parser.on("headerLines", (lines: HeaderLines) => (collected.headerLines = lines))
  parser.on("data", (data: AttachmentStream | MessageText) => {
    if (data.type === "attachment") {
      pending.push(collect(data).then((content) => void collected.parts.push({ stream: data, content })))
    } else {
      collected.text = data.text ?? ""
      collected.html = typeof data.html === "string" ? data.html : ""
    }
  })
  await new Promise<void>((resolve, reject) => {
    parser.on("end", resolve)
    parser.on("error", reject)
    parser.end(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength))
  })
  await Promise.all(pending)
  return { parser, collected }
}

const parsedOf = ({ collected, parser }: Awaited<ReturnType<typeof run>>): InboxMessage.Parsed => {
  const headers = collected.headerLines.map(({ line }) => MessageHeaders.field(decoded(line)))
  const attachments: Array<InboxMessage.Part> = []
  const inline: Array<InboxMessage.Part> = []
  const contents = new Map<string, Uint8Array>()
  collected.parts.forEach(({ content, stream }, i) => {
    const id = stream.partId ?? String(i + 1)
    const part = {
      PartID: id,
      FileName: stream.filename ?? stream.cid ?? "",
      ContentType: stream.contentType,
      ContentID: stream.cid ?? "",
      Size: content.length
    }
    contents.set(id, content)
    ;(stream.related === true || stream.contentDisposition === "inline" ? inline : attachments).push(part)
  })
  return {
    messageId: (parser.messageId ?? "").replace(/^<|>$/g, ""),
    subject: parser.subject ?? "",
    from: mailboxes(parser.from)[0] ?? null,
    to: mailboxes(parser.to),
    cc: mailboxes(parser.cc),
    bcc: mailboxes(parser.bcc),
    replyTo: mailboxes(parser.replyTo),
    returnPath: MessageHeaders.returnPathOf(headers),
    date: parser.date === undefined || Number.isNaN(parser.date.getTime()) ? undefined : parser.date.getTime(),
    text: collected.text,
    html: collected.html,
    attachments,
    inline,
    contents,
    headers,
    tags: MessageHeaders.tagsOf(headers)
  }
}

const empty: InboxMessage.Parsed = {
  messageId: "",
  subject: "",
  from: null,
  to: [],
  cc: [],
  bcc: [],
  replyTo: [],
  returnPath: "",
  date: undefined,
  text: "",
  html: "",
  attachments: [],
  inline: [],
  contents: new Map(),
  headers: [],
  tags: []
}

/**
 * The message's parts as far as mailparser parses them; a message that does not parse at all is
 * kept with nothing but its raw source.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseWithMailparser = (raw: Uint8Array): Effect.Effect<InboxMessage.Parsed> =>
  Effect.tryPromise(() => run(raw)).pipe(
    // a body the parser gives up on (multiparts nested thousands deep) still has its header
    // section: its addresses and subject, without the parts
    Effect.catch(() => Effect.tryPromise(() => run(headerSection(raw)))),
    Effect.map(parsedOf),
    Effect.orElseSucceed(() => empty)
  )

/**
 * The message's parts: a simple message's without the library (SimpleMessage, the same result
 * without mailparser's streams), any other's with mailparser.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (raw: Uint8Array): Effect.Effect<InboxMessage.Parsed> => {
  const simple = SimpleMessage.parse(raw)
  return simple === undefined ? parseWithMailparser(raw) : Effect.succeed(simple)
}

// the bytes up to the blank line that ends the header section, with a blank line and no body
const headerSection = (raw: Uint8Array): Uint8Array => {
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  const crlf = text.indexOf("\r\n\r\n")
  const lf = text.indexOf("\n\n")
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 2 : lf >= 0 ? lf + 1 : raw.length
  return new Uint8Array(Buffer.concat([text.subarray(0, end), Buffer.from("\r\n")]))
}
