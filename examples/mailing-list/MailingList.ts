/**
 * The mailing lists of one domain as a message handler: smtpd's `MailmanProxy` without Mailman.
 *
 * For a list `dev` in `lists.example`:
 *
 * - `dev@` posts. The sender must not be `<>` (a bounce posted to a list would go to every
 *   member and their bounces back to the list), and must be a member when the list is
 *   `membersOnly`; both are refused at RCPT with 550 5.7.1. At DATA one copy goes upstream to all
 *   members at once, from `dev-bounces@`, with the RFC 2369 / RFC 2919 list headers on top. The
 *   body streams through: nothing holds the message. Members the upstream refuses are logged.
 * - `dev-request@` answers with an automatic reply (RFC 3834) saying what the list is and how to
 *   post: sent to the envelope sender from `<>`, and never to `<>` or to a message that is
 *   itself automatic (`Auto-Submitted` other than `no`, or `Precedence: bulk|junk|list`).
 *   These messages are read whole, so they are limited (64 KiB by default, 552 beyond).
 * - `dev-bounces@` takes the members' bounces, so that our envelope sender is an address that
 *   receives mail (RFC 5321 §4.5.5); they are logged and dropped.
 *
 * Anything else in the domain is 550 5.1.1. Each of these addresses is a route of a `Router`,
 * so one message to `dev@`, `ops@` and `dev-request@` gives one leg each, and the client gets
 * one reply by the Router's rule.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Stream } from "effect"
import * as Crypto from "node:crypto"
import { asSmtpError } from "../../src/client/ClientError.js"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import type * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Router from "../../src/handlers/Router.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import * as Lists from "./Lists.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly lists: Lists.Lists
  /** Where posts and automatic replies go (the relay's upstream, usually). */
  readonly upstream: SmtpClient.Options
  /** The largest message to a `-request` address, in bytes (default 65536). */
  readonly maxRequestSize?: number | undefined
}

const encoder = new TextEncoder()

/**
 * The header lines prepended to each post: RFC 2919 `List-Id`, RFC 2369 `List-Post` and
 * `List-Unsubscribe`, and `Precedence: list` (which vacation responders look for).
 *
 * @since 0.1.0
 * @category constructors
 */
export const listHeaders = (domain: string, list: Lists.List): string => {
  const [post, request] = Lists.addressesOf(domain, list.name)
  return [
    `List-Id: <${list.name}.${domain}>`,
    `List-Post: <mailto:${post}>`,
    `List-Unsubscribe: <mailto:${request}?subject=unsubscribe>`,
    "Precedence: list",
    ""
  ].join("\r\n")
}

// RFC 3463: 5.7.1, delivery not authorized
const notAuthorized = (text: string) => new SmtpError.Custom({ code: 550, enhanced: "5.7.1", text })

// only what still means the same from a new sender: not SIZE (the headers make the message
// longer), not the DSN parameters (they were the original sender's)
const passOn = ["BODY", "SMTPUTF8"]

const post = (client: Context.Service.Shape<typeof SmtpClient.SmtpClient>, options: Options, list: Lists.List) => {
  const domain = options.lists.domain
  const [address, , bounces] = Lists.addressesOf(domain, list.name)
  const members = new Set(list.members.map((member) => member.toLowerCase()))
  const headers = encoder.encode(listHeaders(domain, list))
  return MessageHandler.make({
    rcpt: (session) => {
      const from = session.envelope?.mailFrom ?? ""
      if (from === "") return Effect.fail(notAuthorized(`${address} does not take mail from <>`))
      if (list.membersOnly && !members.has(from.toLowerCase())) {
        return Effect.fail(notAuthorized(`Only members may post to ${address}`))
      }
      return Effect.void
    },
    data: (session, message) =>
      Effect.gen(function* () {
        const connection = yield* client.connect(options.upstream)
        const envelope: SmtpClient.Envelope = {
          mailFrom: bounces,
          mailParameters: message.envelope.mailParameters.filter((p) => passOn.includes(p.keyword)),
          recipients: list.members.map((member) => ({ address: member, parameters: [] }))
        }
        const result = yield* connection.send(envelope, Stream.concat(Stream.succeed(headers), message.body))
        yield* Effect.logInfo(`${address}: sent to ${result.accepted.length} members`).pipe(
          Effect.annotateLogs({ session: session.id, from: message.envelope.mailFrom })
        )
        if (result.refused.length > 0) {
          yield* Effect.logWarning(`${address}: the upstream refused ${result.refused.length} members`).pipe(
            Effect.annotateLogs({
              session: session.id,
              refused: result.refused.map((r) => `${r.address}: ${Reply.encode(r.reply, true).trimEnd()}`).join("; ")
            })
          )
        }
      }).pipe(Effect.scoped, asSmtpError)
  })
}

/**
 * The header fields of a message (its bytes up to the first empty line), unfolded, as
 * `[lower-case name, value]` pairs.
 *
 * @since 0.1.0
 * @category parsing
 */
export const headerFields = (message: Uint8Array): ReadonlyArray<readonly [string, string]> => {
  // latin1: one character per byte, whatever the charset; the fields we look at are ASCII
  const text = Buffer.from(message).toString("latin1")
  const end = text.startsWith("\r\n") ? 0 : text.indexOf("\r\n\r\n")
  const block = (end === -1 ? text : text.slice(0, end)).replace(/\r\n(?=[ \t])/g, "")
  return block.split("\r\n").flatMap((line) => {
    const colon = line.indexOf(":")
    return colon <= 0 ? [] : [[line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as const]
  })
}

/**
 * Whether a message says it was sent by a program: RFC 3834 §2 says not to answer those, and
 * `Precedence: bulk|junk|list` is what older responders (and lists) use for the same.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAutomatic = (fields: ReadonlyArray<readonly [string, string]>): boolean =>
  fields.some(([name, value]) => {
    // the keyword, without comments or parameters (RFC 3834 §5)
    const keyword = value
      .replace(/\([^)]*\)/g, "")
      .split(";")[0]!
      .trim()
      .toLowerCase()
    if (name === "auto-submitted") return keyword !== "no"
    if (name === "precedence") return ["bulk", "junk", "list"].includes(keyword)
    return false
  })

// RFC 5322 §3.3; `toUTCString` says "GMT", which is obsolete syntax there
const rfc5322Date = (millis: number) => new Date(millis).toUTCString().replace(/GMT$/, "+0000")

const base64Lines = (text: string) =>
  (
    Buffer.from(text, "utf8")
      .toString("base64")
      .match(/.{1,76}/g) ?? []
  ).join("\r\n")

/**
 * The automatic reply to `sender` for a message to a list's request address.
 *
 * @since 0.1.0
 * @category constructors
 */
export const autoReply = (options: {
  readonly domain: string
  readonly list: Lists.List
  readonly sender: string
  readonly inReplyTo: string | undefined
  readonly date: number
}): string => {
  const { domain, list, sender } = options
  const [address, request] = Lists.addressesOf(domain, list.name)
  const text = [
    `${address}: ${list.description}`,
    "",
    `To post to the list, write to ${address}.`,
    list.membersOnly ? "Only members of the list may post." : "Anyone may post.",
    "",
    `This address (${request}) answers every message with this text; subscriptions are`,
    "managed by the list's owner.",
    ""
  ].join("\r\n")
  const ascii = /^[\x00-\x7f]*$/.test(text)
  return [
    `From: <${request}>`,
    `To: <${sender}>`,
    `Subject: About the ${list.name} list`,
    `Date: ${rfc5322Date(options.date)}`,
    `Message-ID: <${Crypto.randomUUID()}@${domain}>`,
    ...(options.inReplyTo === undefined
      ? []
      : [`In-Reply-To: ${options.inReplyTo}`, `References: ${options.inReplyTo}`]),
    // RFC 3834 §5: so that responders at the other end do not answer us in turn
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    `Content-Transfer-Encoding: ${ascii ? "7bit" : "base64"}`,
    "",
    ascii ? text : `${base64Lines(text)}\r\n`
  ].join("\r\n")
}

// the body, or MessageTooBig past `max` bytes; the server drains what is left unread
const readAtMost = (body: Message.Message["body"], max: number) =>
  Effect.gen(function* () {
    const chunks: Array<Uint8Array> = []
    let size = 0
    yield* Stream.runForEachWhile(body, (chunk) =>
      Effect.sync(() => {
        size += chunk.length
        if (size <= max) chunks.push(chunk)
        return size <= max
      })
    )
    if (size > max)
      return yield* new SmtpError.MessageTooBig({ text: `Messages to this address are limited to ${max} bytes` })
    return Buffer.concat(chunks)
  })

const request = (client: Context.Service.Shape<typeof SmtpClient.SmtpClient>, options: Options, list: Lists.List) => {
  const domain = options.lists.domain
  const [, address] = Lists.addressesOf(domain, list.name)
  const max = options.maxRequestSize ?? 64 * 1024
  return MessageHandler.make({
    data: (session, message) =>
      Effect.gen(function* () {
        const content = yield* readAtMost(message.body, max)
        const sender = message.envelope.mailFrom
        const fields = headerFields(content)
        const log = (text: string) =>
          Effect.logInfo(`${address}: ${text}`).pipe(Effect.annotateLogs({ session: session.id, from: sender }))
        if (sender === "") return yield* log("no reply to <>")
        if (isAutomatic(fields)) return yield* log("no reply to an automatic message")
        const reply = autoReply({
          domain,
          list,
          sender,
          inReplyTo: fields.find(([name]) => name === "message-id")?.[1],
          date: yield* Clock.currentTimeMillis
        })
        const connection = yield* client.connect(options.upstream)
        yield* connection.send(
          { mailFrom: "", mailParameters: [], recipients: [{ address: sender, parameters: [] }] },
          Stream.succeed(encoder.encode(reply))
        )
        yield* log("replied")
      }).pipe(Effect.scoped, asSmtpError)
  })
}

const bounces = (options: Options, list: Lists.List) => {
  const [, , address] = Lists.addressesOf(options.lists.domain, list.name)
  return MessageHandler.make({
    data: (session, message) =>
      Effect.logInfo(`${address}: bounce dropped`).pipe(
        Effect.annotateLogs({ session: session.id, from: message.envelope.mailFrom })
      )
  })
}

const noSuchList = MessageHandler.layer({
  rcpt: () => Effect.fail(new SmtpError.MailboxNotFound({ text: "No such list" }))
})

/**
 * The handler for the list domain: a `Router` with a route per list address, and 550 5.1.1 for
 * the rest. It needs an `SmtpClient` (`NodeSmtpClient.layer`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const client = yield* SmtpClient.SmtpClient
    const handler = (hooks: MessageHandler.Handler) => Layer.succeed(MessageHandler.MessageHandler, hooks)
    const routes = options.lists.lists.flatMap((list) => {
      const [postAddress, requestAddress, bouncesAddress] = Lists.addressesOf(options.lists.domain, list.name)
      return [
        Router.address(postAddress, handler(post(client, options, list))),
        Router.address(requestAddress, handler(request(client, options, list))),
        Router.address(bouncesAddress, handler(bounces(options, list)))
      ]
    })
    return yield* Router.make({ routes, fallback: noSuchList })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<MessageHandler.MessageHandler, never, SmtpClient.SmtpClient> =>
  Layer.effect(MessageHandler.MessageHandler, make(options))
