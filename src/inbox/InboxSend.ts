/**
 * `POST /api/v1/send`: Mailpit's send request (From, To, Cc, Bcc, ReplyTo, Subject, Text, HTML,
 * Attachments, Headers, Tags) made into a MIME message and its envelope.
 *
 * @since 0.2.0
 */
import * as Result from "effect/Result"
import type * as InboxMessage from "./InboxMessage.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Built {
  readonly raw: Uint8Array
  readonly envelope: InboxMessage.Envelope
}

interface Mailbox {
  readonly email: string
  readonly name: string
}

interface Attachment {
  readonly content: Uint8Array
  readonly filename: string
  readonly contentType: string
  readonly contentId: string
}

const protectedHeaders = new Set([
  "to",
  "from",
  "cc",
  "bcc",
  "reply-to",
  "date",
  "subject",
  "content-type",
  "mime-version"
])
const addressPattern = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+$/

// keys without regard to case, as the request's are
const field = (value: unknown, name: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? Object.entries(value).find(([k]) => k.toLowerCase() === name)?.[1]
    : undefined

const text = (value: unknown): string => (typeof value === "string" ? value : "")

const mailbox = (value: unknown, what: string): Result.Result<Mailbox, string> => {
  const email = typeof value === "string" ? value : text(field(value, "email"))
  if (!addressPattern.test(email)) return Result.fail(`invalid ${what} address: ${email}`)
  return Result.succeed({ email, name: typeof value === "string" ? "" : text(field(value, "name")) })
}

const mailboxes = (value: unknown, what: string): Result.Result<ReadonlyArray<Mailbox>, string> => {
  if (value === undefined || value === null) return Result.succeed([])
  if (!Array.isArray(value)) return Result.fail(`${what} must be a list`)
  return Result.all(value.map((v) => mailbox(v, what)))
}

// RFC 2047 for a header value that is not plain ASCII
const encodeWord = (value: string): string =>
  /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`

const formatMailbox = ({ email, name }: Mailbox) =>
  name === "" ? email : `${/^[\w .-]*$/.test(name) ? `"${name}"` : encodeWord(name)} <${email}>`

// a media type, parameters allowed; nothing that could end the header line
const contentTypePattern = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=("[^"\r\n]*"|[\w!#$&^.+-]+))*$/
const contentIdPattern = /^[^\s<>"]+$/

const attachmentOf = (value: unknown, i: number): Result.Result<Attachment, string> => {
  const filename = text(field(value, "filename"))
  const content = text(field(value, "content"))
  const contentType = text(field(value, "contenttype"))
  const contentId = text(field(value, "contentid"))
  if (filename === "" || content === "") return Result.fail(`attachment ${i + 1} needs Content and Filename`)
  if (contentType !== "" && !contentTypePattern.test(contentType))
    return Result.fail(`invalid ContentType of attachment "${filename}"`)
  if (contentId !== "" && !contentIdPattern.test(contentId))
    return Result.fail(`invalid ContentID of attachment "${filename}"`)
  const base64 = content.slice(content.lastIndexOf(",") + 1).replace(/\s/g, "")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) return Result.fail(`error decoding base64 attachment "${filename}"`)
  return Result.succeed({
    content: new Uint8Array(Buffer.from(base64, "base64")),
    filename,
    contentType: contentType || "application/octet-stream",
    contentId
  })
}

// base64 in lines of 76
const base64Lines = (bytes: Uint8Array) =>
  (
    Buffer.from(bytes)
      .toString("base64")
      .match(/.{1,76}/g) ?? []
  ).join("\r\n")

const leaf = (contentType: string, bytes: Uint8Array, extra: ReadonlyArray<string> = []) =>
  [`Content-Type: ${contentType}`, "Content-Transfer-Encoding: base64", ...extra, "", base64Lines(bytes)].join("\r\n")

let boundaries = 0
const multipart = (subtype: string, parts: ReadonlyArray<string>) => {
  const boundary = `=_effect-smtpd-${Date.now().toString(36)}-${(boundaries += 1).toString(36)}`
  return [
    `Content-Type: multipart/${subtype}; boundary="${boundary}"`,
    "",
    ...parts.map((p) => `--${boundary}\r\n${p}`),
    `--${boundary}--`,
    ""
  ].join("\r\n")
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"))

const bodyOf = (plain: string, html: string, attachments: ReadonlyArray<Attachment>) => {
  const texts = [
    ...(plain !== "" || html === "" ? [leaf("text/plain; charset=utf-8", utf8(plain))] : []),
    ...(html !== "" ? [leaf("text/html; charset=utf-8", utf8(html))] : [])
  ]
  const disposition = (a: Attachment, kind: string) => [
    `Content-Disposition: ${kind}; filename="${encodeWord(a.filename).replace(/"/g, "")}"`,
    ...(a.contentId === "" ? [] : [`Content-ID: <${a.contentId}>`])
  ]
  const inline = attachments.filter((a) => a.contentId !== "")
  const attached = attachments.filter((a) => a.contentId === "")
  let body = texts.length === 1 ? texts[0]! : multipart("alternative", texts)
  if (inline.length > 0) {
    body = multipart("related", [body, ...inline.map((a) => leaf(a.contentType, a.content, disposition(a, "inline")))])
  }
  if (attached.length > 0) {
    body = multipart("mixed", [
      body,
      ...attached.map((a) => leaf(a.contentType, a.content, disposition(a, "attachment")))
    ])
  }
  return body
}

/**
 * The message of a send request, or what is wrong with the request.
 *
 * @since 0.2.0
 * @category constructors
 */
export const build = (request: Record<string, unknown>): Result.Result<Built, string> =>
  Result.gen(function* () {
    const from = yield* mailbox(request["from"], "From")
    const to = yield* mailboxes(request["to"], "To")
    const cc = yield* mailboxes(request["cc"], "Cc")
    const bcc = yield* mailboxes(request["bcc"], "Bcc")
    const replyTo = yield* mailboxes(request["replyto"], "Reply-To")
    const attachments = yield* Result.all(
      (Array.isArray(request["attachments"]) ? request["attachments"] : []).map(attachmentOf)
    )
    const extra = Object.entries((field(request, "headers") ?? {}) as Record<string, unknown>)
    for (const [name, value] of extra) {
      if (protectedHeaders.has(name.toLowerCase())) return yield* Result.fail(`cannot overwrite header: "${name}"`)
      if (!/^[!-9;-~]+$/.test(name) || typeof value !== "string" || /[\r\n]/.test(value))
        return yield* Result.fail(`invalid header: "${name}"`)
    }
    const recipients = [...to, ...cc, ...bcc].map((m) => m.email)
    if (recipients.length === 0) return yield* Result.fail("no recipients")
    const tags = (Array.isArray(request["tags"]) ? request["tags"] : []).filter((t) => typeof t === "string")
    const badTag = tags.find((tag) => !/^[^\p{Cc},]+$/u.test(tag))
    if (badTag !== undefined) return yield* Result.fail(`invalid tag: ${JSON.stringify(badTag)}`)
    const header = [
      `From: ${formatMailbox(from)}`,
      ...(to.length > 0 ? [`To: ${to.map(formatMailbox).join(", ")}`] : []),
      ...(cc.length > 0 ? [`Cc: ${cc.map(formatMailbox).join(", ")}`] : []),
      ...(replyTo.length > 0 ? [`Reply-To: ${replyTo.map(formatMailbox).join(", ")}`] : []),
      `Subject: ${encodeWord(text(request["subject"]).replace(/[\r\n]/g, " "))}`,
      `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
      `Message-ID: <${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}@effect-smtpd>`,
      "MIME-Version: 1.0",
      ...(tags.length > 0 ? [`X-Tags: ${tags.join(", ")}`] : []),
      ...extra.map(([name, value]) => `${name}: ${value as string}`)
    ]
    const body = bodyOf(text(request["text"]), text(request["html"]), attachments)
    return {
      raw: utf8(`${header.join("\r\n")}\r\n${body}${body.endsWith("\r\n") ? "" : "\r\n"}`),
      envelope: { mailFrom: from.email, recipients }
    }
  })
