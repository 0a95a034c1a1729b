/**
 * smtpd's `PureProxy`, done right: messages are passed on to an upstream server through
 * `SmtpClient`, the upstream's refusals reach the client, and only clients in `relayNetworks`
 * (loopback by default) or authenticated ones may relay: never an open relay by default.
 *
 * - `forward` (default): the upstream transaction opens when the client sends MAIL, each RCPT
 *   gets the upstream's own verdict, and the body streams through without being held.
 * - `queue`: recipients are accepted here and the message is stored in the `MailQueue` (the
 *   client gets 250 once it is durably committed, `451 4.3.0` when the queue cannot store it);
 *   `Delivery` passes it on from there, retries and bounces, on the queue's schedule.
 *
 * What goes upstream: our `Received:` field (RFC 5321 §4.4), then smtpd's `X-Peer`, then the
 * message. A message whose header already has more than `maxReceived` `Received:` fields is
 * refused with `554 5.4.6` (a mail loop); its upstream transaction is abandoned, never completed.
 * The upstream's replies reach the client with an enhanced status code (RFC 2034), one derived
 * from the class (`2.0.0`, `4.0.0`, `5.0.0`) when the upstream gave none.
 *
 * Size: the relay adds at most `headroom(options)` octets, and declares them in the SIZE it
 * passes on. A server in front of it should advertise `advertisedSize(...)`, so that a message
 * of exactly the advertised SIZE still fits the upstream (`probeSize` reads the upstream's).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { asSmtpError, describe as describeFailure, toSmtpError, UpstreamRefused } from "../client/ClientError.js"
import * as SmtpClient from "../client/SmtpClient.js"
import * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Verdicts from "../handler/Verdicts.js"
import type * as Parameters from "../protocol/Parameters.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Networks from "../server/Networks.js"
import { ConfigError } from "../server/ServerConfig.js"
import * as MailQueue from "../queue/MailQueue.js"
import * as Received from "./Received.js"
import * as Refusals from "./Refusals.js"
import * as ErrorText from "../internal/ErrorText.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly upstream: SmtpClient.Options
  /** Default `forward`; `queue` needs a `MailQueue` (and `Delivery` to pass the mail on). */
  readonly mode?: "forward" | "queue" | undefined
  /**
   * The queue's name for this upstream (default `routeOf(upstream)`): `Delivery` finds the
   * upstream of a queued message by it.
   */
  readonly route?: string | undefined
  /** Clients allowed to relay, in CIDR notation (default loopback: `127.0.0.0/8`, `::1/128`). */
  readonly relayNetworks?: ReadonlyArray<string> | undefined
  /** Prepend `X-Peer: <client address>` as smtpd did (default true). */
  readonly xPeer?: boolean | undefined
  /**
   * Recipients refused after a 250 (an LMTP upstream's refusals after the data, to an SMTP
   * client); default: logged and counted.
   */
  readonly onRefused?: Refusals.OnRefused | undefined
  /** Prepend our `Received:` field (default true). */
  readonly received?: boolean | undefined
  /** Refuse (554 5.4.6) a message with more `Received:` fields than this (default 50). */
  readonly maxReceived?: number | undefined
}

interface Upstream {
  readonly scope: Scope.Closeable
  readonly connection: SmtpClient.Connection
}

const peerLine = (session: SessionInfo) => `X-Peer: ${session.peer.address}\r\n`

/**
 * The body with smtpd's `X-Peer` trace line on top (trace fields go first, RFC 5321 §4.4, and
 * so the body streams without its header block being held).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPeer = (session: SessionInfo, message: Message.Message) =>
  Received.prepend(message.body, peerLine(session))

// an X-Peer line: the name, an IPv6 address with a zone (at most 45 + 16 octets), CRLF
const peerLineMax = 80

/**
 * The most octets the relay adds to a message (its `Received:` field and `X-Peer` line): what
 * the SIZE advertised in front of it must leave free.
 *
 * @since 0.2.0
 * @category getters
 */
export const headroom = (options: Partial<Options>): number =>
  (options.received === false ? 0 : Received.maxLength) + (options.xPeer === false ? 0 : peerLineMax)

/**
 * The SIZE (ServerConfig's `maxMessageSize`) a server in front of this relay should advertise:
 * the smaller of its own limit and the upstream's (`probeSize`), less `headroom`, so that a
 * message of exactly that size still fits upstream. 0 (no limit) when neither has one.
 *
 * @since 0.2.0
 * @category getters
 */
export const advertisedSize = (options: Partial<Options>, size: number, upstreamSize?: number | undefined): number => {
  const limits = [size, upstreamSize ?? 0].filter((n) => n > 0)
  return limits.length === 0 ? 0 : Math.max(1, Math.min(...limits) - headroom(options))
}

/**
 * The upstream's SIZE, read from its EHLO reply (one connection, closed at once): a number, 0
 * when it offers SIZE without a limit, undefined when it does not say or cannot be reached
 * (logged).
 *
 * @since 0.2.0
 * @category constructors
 */
export const probeSize = (
  upstream: SmtpClient.Options
): Effect.Effect<number | undefined, never, SmtpClient.SmtpClient> =>
  Effect.gen(function* () {
    const client = yield* SmtpClient.SmtpClient
    const connection = yield* client.connect(upstream)
    const size = connection.extensions.get("SIZE")
    if (size === undefined) return undefined
    return /^\d+$/.test(size) ? Number(size) : 0
  }).pipe(
    Effect.scoped,
    Effect.catch((error) =>
      Effect.as(
        Effect.logWarning(`upstream SIZE unknown (${describeFailure(error)}); advertising our own limit`),
        undefined
      )
    )
  )

// RFC 1870: the SIZE we declare is that of what we send, our own lines included
const declareHeadroom = (parameters: Parameters.Parameters, extra: number): Parameters.Parameters =>
  parameters.map((p) =>
    p.keyword === "SIZE" && p.value !== undefined && /^\d+$/.test(p.value)
      ? { ...p, value: String(Number(p.value) + extra) }
      : p
  )

/**
 * An upstream's reply as our client gets it: with an enhanced status code, derived from its
 * class when the upstream gave none (RFC 2034 §3 / RFC 3463: `2.0.0`, `4.0.0`, `5.0.0`).
 *
 * @since 0.2.0
 * @category utils
 */
export const withEnhanced = (reply: Reply.Reply): Reply.Reply => {
  const kind = Math.floor(reply.code / 100)
  if (reply.enhanced !== undefined || (kind !== 2 && kind !== 4 && kind !== 5)) return reply
  return Reply.make(reply.code, `${kind}.0.0`, reply.lines)
}

// the upstream's refusals, passed on as errors, get their code too
const enhanceError = <E>(error: E): E =>
  SmtpError.isSmtpError(error) && error._tag === "Upstream" && error.enhanced === undefined
    ? (new SmtpError.Upstream({
        code: error.code,
        enhanced: withEnhanced(SmtpError.reply(error)).enhanced,
        lines: error.lines
      }) as E)
    : error

// every reply and refusal of the upstream on its way to our client
const relayed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  asSmtpError(effect).pipe(
    Effect.map((a) => (a instanceof Reply.Reply ? (withEnhanced(a) as A) : a)),
    Effect.mapError(enhanceError)
  )

// what every session of one relay shares
interface Relaying {
  /** A client in relayNetworks, or one that authenticated (AUTH), may relay. */
  readonly mayRelay: (session: SessionInfo) => boolean
  /** What goes upstream: our Received:, X-Peer, then the message, its hops counted. */
  readonly content: (
    session: SessionInfo,
    message: Message.Message
  ) => Effect.Effect<Stream.Stream<Uint8Array, Message.BodyError | SmtpError.Custom>>
  readonly upstreamFor: (session: SessionInfo) => SmtpClient.Options
  /** SIZE= grown by what we add. */
  readonly mailParameters: (parameters: Parameters.Parameters) => Parameters.Parameters
}

// an LMTP upstream answers each recipient: so does an LMTP client; an SMTP client gets 250
// when any recipient was taken (the others to onRefused), else the refusal
const forwardAnswer = (
  onRefused: Refusals.OnRefused,
  session: SessionInfo,
  message: Message.Message,
  replies: ReadonlyArray<SmtpClient.RecipientReply>
): Effect.Effect<Reply.Reply | Verdicts.PerRecipient, SmtpError.SmtpError> => {
  const refused = replies.filter(({ reply }) => reply.code >= 400)
  const accepted = replies.find(({ reply }) => reply.code < 400)
  if (session.protocol === "lmtp") {
    const byAddress = new Map(replies.map(({ address, reply }) => [address, withEnhanced(reply)]))
    return Effect.succeed(
      Verdicts.perRecipient(message.envelope.recipients.map((r) => byAddress.get(r.address) ?? Reply.localError))
    )
  }
  if (accepted === undefined) {
    const first = refused.find(({ reply }) => reply.isTransient) ?? refused[0]!
    return Effect.fail(toSmtpError(new UpstreamRefused({ command: "end of data", reply: first.reply })))
  }
  if (refused.length === 0) return Effect.succeed(accepted.reply)
  const recipients = refused.map(({ address, reply }) => ({ address, reply: withEnhanced(reply) }))
  return Effect.as(onRefused({ session, mailFrom: message.envelope.mailFrom, recipients }), accepted.reply)
}

// forward: each session holds its own upstream transaction, opened when its client sends MAIL;
// the session's end closes what a transaction left open
const forwardSession = (
  client: SmtpClient.SmtpClient["Service"],
  relaying: Relaying,
  onRefused: Refusals.OnRefused
): Effect.Effect<MessageHandler.Hooks, never, Scope.Scope> =>
  Effect.suspend(() => {
    const { content, mayRelay, upstreamFor } = relaying
    let upstream: Upstream | undefined = undefined
    const close = Effect.suspend(() => {
      const open = upstream
      upstream = undefined
      // QUIT and close in the background: the client's next command need not wait for them
      return open === undefined ? Effect.void : Effect.asVoid(Effect.forkDetach(Scope.close(open.scope, Exit.void)))
    })
    // the upstream sees MAIL when our client sends it
    const open = (session: SessionInfo, from: string, parameters: Parameters.Parameters) =>
      Effect.gen(function* () {
        yield* close
        const scope = yield* Scope.make()
        const connection = yield* client.connect(upstreamFor(session)).pipe(
          Scope.provide(scope),
          Effect.tap((connection) => connection.mail(from, relaying.mailParameters(parameters))),
          Effect.tapError(() => Scope.close(scope, Exit.void))
        )
        upstream = { scope, connection }
      })
    const hooks: MessageHandler.Hooks = {
      mail: (session, from, parameters) => (mayRelay(session) ? relayed(open(session, from, parameters)) : Effect.void),
      rcpt: (session, recipient) => {
        if (!mayRelay(session) || upstream === undefined) return Effect.fail(new SmtpError.RelayDenied({}))
        return upstream.connection.rcpt(recipient.address, recipient.parameters).pipe(relayed, Effect.asVoid)
      },
      data: (session, message) => {
        const open = upstream
        if (open === undefined) return Effect.fail(new SmtpError.RelayDenied({}))
        // a body that fails (a mail loop, the client gone) leaves the upstream mid-DATA: the
        // client abandons that connection, and `reset` closes it without a final dot
        return Effect.flatMap(content(session, message), (body) =>
          relayed(
            Effect.flatMap(open.connection.dataReplies(body), (replies) =>
              forwardAnswer(onRefused, session, message, replies)
            )
          )
        )
      },
      reset: () => close
    }
    return Effect.as(
      Effect.addFinalizer(() => close),
      hooks
    )
  })

/**
 * The queue's route name of an upstream: `host:port`, or `lmtp:` and that.
 *
 * @since 0.2.0
 * @category getters
 */
export const routeOf = (upstream: SmtpClient.Options): string =>
  `${upstream.lmtp === true ? "lmtp:" : ""}${upstream.host}:${upstream.port ?? 25}`

const queueUnavailable = new SmtpError.Custom({
  code: 451,
  enhanced: "4.3.0",
  text: "Temporary local problem: the mail queue cannot take the message now"
})

// queue: recipients accepted here; the message, with what the relay adds, stored before the 250
const queued = (relaying: Relaying, queue: MailQueue.Service, route: string) =>
  MessageHandler.make({
    rcpt: (session) => (relaying.mayRelay(session) ? Effect.void : Effect.fail(new SmtpError.RelayDenied({}))),
    data: (session, message) =>
      Effect.flatMap(relaying.content(session, message), (body) =>
        queue.enqueue(
          {
            route,
            mailFrom: message.envelope.mailFrom,
            mailParameters: relaying.mailParameters(message.envelope.mailParameters),
            recipients: message.envelope.recipients
          },
          body
        )
      ).pipe(
        Effect.map((id) => Reply.make(250, "2.0.0", `Ok: queued as ${id}`)),
        Effect.catchTag("QueueError", (error) =>
          Effect.andThen(
            Effect.logError(`mail queue: cannot store a message: ${ErrorText.ofError(error)}`),
            Effect.fail(queueUnavailable)
          )
        )
      )
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const networks = yield* Effect.fromResult(
      Result.mapError(
        Networks.parseAll(options.relayNetworks ?? Networks.loopback),
        (message) => new ConfigError({ message: `relayNetworks: ${message}` })
      )
    )
    const maxReceived = options.maxReceived ?? Received.defaultMaxReceived
    const onRefused = options.onRefused ?? Refusals.logAndCount
    const extra = headroom(options)
    // this hop's lines on top of the body (no generator made per message: docs/performance/gc.md)
    const withLines = (
      session: SessionInfo,
      body: Stream.Stream<Uint8Array, Message.BodyError | SmtpError.Custom>,
      field: string | Uint8Array | undefined
    ) => {
      const peer = options.xPeer === false ? "" : peerLine(session)
      // this hop's lines go on in one piece when they are text (not a Router's field)
      if (field instanceof Uint8Array) return Received.prepend(peer === "" ? body : Received.prepend(body, peer), field)
      const lines = (field ?? "") + peer
      return lines === "" ? body : Received.prepend(body, lines)
    }
    const content = (session: SessionInfo, message: Message.Message) => {
      // a Router in front already added this hop's field: X-Peer goes under it
      const traced = Received.traced(message)
      const body = Received.limitHops(traced?.body ?? message.body, maxReceived)
      if (traced !== undefined || options.received === false)
        return Effect.succeed(withLines(session, body, traced?.field))
      return Effect.map(Received.make(session, Message.rcptTos(message)), (field) => withLines(session, body, field))
    }
    const relaying: Relaying = {
      mayRelay: (session) => session.auth !== undefined || Networks.contains(networks, session.peer.address),
      content,
      // we greet the upstream with our own name unless told otherwise
      upstreamFor: (session) => ({ ...options.upstream, heloName: options.upstream.heloName ?? session.hostname }),
      mailParameters: (parameters) => declareHeadroom(parameters, extra)
    }
    if (options.mode !== "queue") {
      const client = yield* SmtpClient.SmtpClient
      return MessageHandler.make({ session: () => forwardSession(client, relaying, onRefused) })
    }
    const queue = yield* Effect.serviceOption(MailQueue.MailQueue)
    if (queue._tag === "None") return yield* new ConfigError({ message: "Relay mode queue needs a MailQueue" })
    return queued(relaying, queue.value, options.route ?? routeOf(options.upstream))
  })

/**
 * The relay as the server's message handler; it needs an `SmtpClient` (`NodeSmtpClient.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<MessageHandler.MessageHandler, ConfigError, SmtpClient.SmtpClient> =>
  Layer.effect(MessageHandler.MessageHandler, make(options))
