/**
 * A captured message as the inbox keeps it, parsed once on arrival, and the JSON shapes of
 * Mailpit's API v1 made from it (field names as Mailpit's clients read them: `ID`, `From`,
 * `Attachments`, …), so that Mailpit's client libraries and test plugins work against it.
 *
 * @since 0.2.0
 */

/**
 * A mailbox: its display name (`""` when none) and its address.
 *
 * @since 0.2.0
 * @category models
 */
export interface Address {
  readonly Name: string
  readonly Address: string
}

/**
 * An attachment or inline part, as the API lists it; `PartID` names it in `/part/{PartID}`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Part {
  readonly PartID: string
  readonly FileName: string
  readonly ContentType: string
  readonly ContentID: string
  readonly Size: number
}

/**
 * What the MIME parser makes of a message's bytes.
 *
 * @since 0.2.0
 * @category models
 */
export interface Parsed {
  readonly messageId: string
  readonly subject: string
  readonly from: Address | null
  readonly to: ReadonlyArray<Address>
  readonly cc: ReadonlyArray<Address>
  readonly bcc: ReadonlyArray<Address>
  readonly replyTo: ReadonlyArray<Address>
  readonly returnPath: string
  /** The Date: header, in milliseconds, when it parses. */
  readonly date: number | undefined
  readonly text: string
  readonly html: string
  readonly attachments: ReadonlyArray<Part>
  readonly inline: ReadonlyArray<Part>
  /** The parts' decoded bytes, by PartID. */
  readonly contents: ReadonlyMap<string, Uint8Array>
  /** The header section: names as Mailpit gives them (`Message-Id`), values unfolded, in order. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly tags: ReadonlyArray<string>
}

/**
 * The envelope the message came with.
 *
 * @since 0.2.0
 * @category models
 */
export interface Envelope {
  readonly mailFrom: string
  readonly recipients: ReadonlyArray<string>
  /** The identity the client authenticated as (AUTH), if it did: Mailpit's `Username`. */
  readonly username?: string | undefined
}

/**
 * A list item (`GET /api/v1/messages`, `/search`, the websocket's `new` event).
 *
 * @since 0.2.0
 * @category models
 */
export interface Summary {
  readonly ID: string
  readonly MessageID: string
  readonly Read: boolean
  readonly From: Address
  readonly To: ReadonlyArray<Address>
  readonly Cc: ReadonlyArray<Address>
  readonly Bcc: ReadonlyArray<Address>
  readonly ReplyTo: ReadonlyArray<Address>
  readonly Subject: string
  readonly Created: string
  readonly Username: string
  readonly Tags: ReadonlyArray<string>
  readonly Size: number
  readonly Attachments: number
  readonly Snippet: string
}

/**
 * The whole message (`GET /api/v1/message/{ID}`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Message {
  readonly ID: string
  readonly MessageID: string
  readonly From: Address
  readonly To: ReadonlyArray<Address>
  readonly Cc: ReadonlyArray<Address>
  readonly Bcc: ReadonlyArray<Address>
  readonly ReplyTo: ReadonlyArray<Address>
  readonly ReturnPath: string
  readonly Subject: string
  readonly ListUnsubscribe: {
    readonly Header: string
    readonly Links: ReadonlyArray<string>
    readonly Errors: string
    readonly HeaderPost: string
  }
  readonly Date: string
  readonly Tags: ReadonlyArray<string>
  readonly Username: string
  readonly Text: string
  readonly HTML: string
  readonly Size: number
  readonly Inline: ReadonlyArray<Part>
  readonly Attachments: ReadonlyArray<Part>
}

const noAddress: Address = { Name: "", Address: "" }

/**
 * Up to 250 characters of the message's text (or of its HTML without tags), on one line.
 *
 * @since 0.2.0
 * @category constructors
 */
export const snippet = (parsed: Pick<Parsed, "text" | "html">): string => {
  // only the start is shown: the rest of a long message is never looked at
  const source = /\S/.test(parsed.text)
    ? parsed.text.slice(0, 2000)
    : parsed.html
        .slice(0, 20_000)
        .replace(/<(style|script|head)[^>]*>[\s\S]*?<\/\1>/gi, " ")
        .replace(/<[^>]*>/g, " ")
        .replace(/&nbsp;/g, " ")
        .replace(/&amp;/g, "&")
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
  // most texts fill the snippet from their first 600 units: the rest is collapsed only if not
  const short = collapsed(source.slice(0, 600))
  const text = short.length > 500 ? short : collapsed(source)
  // the first 250 characters (code points, never half a pair), counted without an array of all
  let end = 0
  for (let count = 0; end < text.length && count < 250; count++) end += text.codePointAt(end)! > 0xffff ? 2 : 1
  return end < text.length ? `${text.slice(0, end)}...` : text
}

// whitespace runs as one space, none at either end
const collapsed = (text: string): string => text.replace(/\s+/g, " ").trim()

const lowered = (addresses: ReadonlyArray<Address>) => new Set(addresses.map((a) => a.Address.toLowerCase()))

/**
 * The Bcc shown: the Bcc: header's, and the envelope's recipients that the To: and Cc: headers
 * do not name (how a copy sent blind is seen at all in a catcher).
 *
 * @since 0.2.0
 * @category constructors
 */
export const bccOf = (parsed: Parsed, envelope: Envelope | undefined): ReadonlyArray<Address> => {
  if (envelope === undefined) return parsed.bcc
  const named = lowered([...parsed.to, ...parsed.cc, ...parsed.bcc])
  const blind = envelope.recipients
    .filter((r) => !named.has(r.toLowerCase()))
    .map((address) => ({ Name: "", Address: address }))
  return [...parsed.bcc, ...blind]
}

/**
 * The List-Unsubscribe field as Mailpit reports it: its links (one mailto: and one http(s) at
 * most) and what was wrong with it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const listUnsubscribe = (headers: Parsed["headers"]): Message["ListUnsubscribe"] => {
  const header = headers.find(([name]) => name === "List-Unsubscribe")?.[1] ?? ""
  const post = headers.find(([name]) => name === "List-Unsubscribe-Post")?.[1] ?? ""
  const links: Array<string> = []
  const errors: Array<string> = []
  for (const match of header.matchAll(/<([^>]*)>/g)) {
    const link = match[1]!.trim()
    const scheme = /^(mailto|https?):/i.exec(link)?.[1]?.toLowerCase()
    if (scheme === undefined) errors.push(`Unsupported link: ${link}`)
    else if (!links.some((l) => l.toLowerCase().startsWith(scheme === "mailto" ? "mailto:" : "http"))) links.push(link)
  }
  if (header !== "" && links.length === 0 && errors.length === 0) errors.push("No valid unsubscribe links found")
  return { Header: header, Links: links, Errors: errors.join(", "), HeaderPost: post }
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Stored {
  readonly id: string
  readonly created: number
  readonly read: boolean
  readonly size: number
  readonly parsed: Parsed
  readonly envelope: Envelope | undefined
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const summary = (stored: Stored): Summary => {
  const { parsed } = stored
  return {
    ID: stored.id,
    MessageID: parsed.messageId,
    Read: stored.read,
    From: parsed.from ?? noAddress,
    To: parsed.to,
    Cc: parsed.cc,
    Bcc: bccOf(parsed, stored.envelope),
    ReplyTo: parsed.replyTo,
    Subject: parsed.subject,
    Created: new Date(stored.created).toISOString(),
    Username: stored.envelope?.username ?? "",
    Tags: parsed.tags,
    Size: stored.size,
    Attachments: parsed.attachments.length,
    Snippet: snippet(parsed)
  }
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const message = (stored: Stored): Message => {
  const { parsed } = stored
  const from = parsed.from ?? noAddress
  return {
    ID: stored.id,
    MessageID: parsed.messageId,
    From: from,
    To: parsed.to,
    Cc: parsed.cc,
    Bcc: bccOf(parsed, stored.envelope),
    ReplyTo: parsed.replyTo,
    ReturnPath: parsed.returnPath !== "" ? parsed.returnPath : (stored.envelope?.mailFrom ?? from.Address),
    Subject: parsed.subject,
    ListUnsubscribe: listUnsubscribe(parsed.headers),
    Date: new Date(parsed.date ?? stored.created).toISOString(),
    Tags: parsed.tags,
    Username: stored.envelope?.username ?? "",
    Text: parsed.text,
    HTML: parsed.html,
    Size: stored.size,
    Inline: parsed.inline,
    Attachments: parsed.attachments
  }
}

/**
 * The header section as `/headers` gives it: each name once, with its values in order, the
 * names sorted.
 *
 * @since 0.2.0
 * @category constructors
 */
export const headerMap = (headers: Parsed["headers"]): Record<string, ReadonlyArray<string>> => {
  const map = new Map<string, Array<string>>()
  for (const [name, value] of headers) {
    const values = map.get(name)
    if (values === undefined) map.set(name, [value])
    else values.push(value)
  }
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
