/**
 * smtpd's `PureProxy`, done right: messages are passed on to an upstream server through
 * `SmtpClient`, the upstream's refusals reach the client, and only clients in `relayNetworks`
 * (loopback by default) or authenticated ones may relay: never an open relay by default.
 *
 * - `forward` (default): the upstream transaction opens when the client sends MAIL, each RCPT
 *   gets the upstream's own verdict, and the body streams through without being held.
 * - `spool`: recipients are accepted here; when the body comes, one upstream transaction
 *   (pipelined) carries it. If every recipient is refused, the client gets the upstream's reply;
 *   if only some are, it gets 250 and the refused ones go to `onRefused`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { asSmtpError } from "../client/ClientError.js"
import * as SmtpClient from "../client/SmtpClient.js"
import type * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import type * as Parameters from "../protocol/Parameters.js"
import * as Networks from "../server/Networks.js"
import { ConfigError } from "../server/ServerConfig.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Refusals from "./Refusals.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly upstream: SmtpClient.Options
  /** Default `forward`. */
  readonly mode?: "forward" | "spool" | undefined
  /** Clients allowed to relay, in CIDR notation (default loopback: `127.0.0.0/8`, `::1/128`). */
  readonly relayNetworks?: ReadonlyArray<string> | undefined
  /** Prepend `X-Peer: <client address>` as smtpd did (default true). */
  readonly xPeer?: boolean | undefined
  /** Recipients refused after a 250 (spool mode); default: logged and counted. */
  readonly onRefused?: Refusals.OnRefused | undefined
}

interface Upstream {
  readonly scope: Scope.Closeable
  readonly connection: SmtpClient.Connection
}

const encoder = new TextEncoder()

/**
 * The body with smtpd's `X-Peer` trace line on top (trace fields go first, RFC 5321 §4.4, and
 * so the body streams without its header block being held).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPeer = (session: SessionInfo, message: Message.Message) =>
  Stream.concat(Stream.succeed(encoder.encode(`X-Peer: ${session.peer.address}\r\n`)), message.body)

// what every session of one relay shares
interface Relaying {
  readonly client: SmtpClient.SmtpClient["Service"]
  /** A client in relayNetworks, or one that authenticated (AUTH), may relay. */
  readonly mayRelay: (session: SessionInfo) => boolean
  readonly content: (session: SessionInfo, message: Message.Message) => Message.Message["body"]
  readonly upstreamFor: (session: SessionInfo) => SmtpClient.Options
}

// forward: each session holds its own upstream transaction, opened when its client sends MAIL;
// the session's end closes what a transaction left open
const forwardSession = (relaying: Relaying): Effect.Effect<MessageHandler.Hooks, never, Scope.Scope> =>
  Effect.suspend(() => {
    const { client, content, mayRelay, upstreamFor } = relaying
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
          Effect.tap((connection) => connection.mail(from, parameters)),
          Effect.tapError(() => Scope.close(scope, Exit.void))
        )
        upstream = { scope, connection }
      })
    const hooks: MessageHandler.Hooks = {
      mail: (session, from, parameters) =>
        mayRelay(session) ? asSmtpError(open(session, from, parameters)) : Effect.void,
      rcpt: (session, recipient) => {
        if (!mayRelay(session) || upstream === undefined) return Effect.fail(new SmtpError.RelayDenied({}))
        return upstream.connection.rcpt(recipient.address, recipient.parameters).pipe(asSmtpError, Effect.asVoid)
      },
      data: (session, message) => {
        if (upstream === undefined) return Effect.fail(new SmtpError.RelayDenied({}))
        return upstream.connection.data(content(session, message)).pipe(asSmtpError)
      },
      reset: () => close
    }
    return Effect.as(
      Effect.addFinalizer(() => close),
      hooks
    )
  })

// spool: one pipelined upstream transaction per message, opened when the body comes
const spool = (relaying: Relaying, onRefused: Refusals.OnRefused) =>
  MessageHandler.make({
    rcpt: (session) => (relaying.mayRelay(session) ? Effect.void : Effect.fail(new SmtpError.RelayDenied({}))),
    data: (session, message) =>
      Effect.scoped(
        Effect.gen(function* () {
          const connection = yield* relaying.client.connect(relaying.upstreamFor(session))
          const result = yield* connection.send(message.envelope, relaying.content(session, message))
          if (result.refused.length > 0) {
            yield* onRefused({ session, mailFrom: message.envelope.mailFrom, recipients: result.refused })
          }
          return result.reply
        })
      ).pipe(asSmtpError)
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
    const relaying: Relaying = {
      client: yield* SmtpClient.SmtpClient,
      mayRelay: (session) => session.auth !== undefined || Networks.contains(networks, session.peer.address),
      content: (session, message) => (options.xPeer === false ? message.body : withPeer(session, message)),
      // we greet the upstream with our own name unless told otherwise
      upstreamFor: (session) => ({ ...options.upstream, heloName: options.upstream.heloName ?? session.hostname })
    }
    return (options.mode ?? "forward") === "forward"
      ? MessageHandler.make({ session: () => forwardSession(relaying) })
      : spool(relaying, options.onRefused ?? Refusals.logAndCount)
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
