/**
 * A session's tracing spans, when the server traces (`ServerConfig.tracing`): one for the
 * session, one for each transaction (MAIL to its end), and one for each call of a handler's
 * hook, under the transaction (or the session). The session and its transactions outlive any
 * fiber (a parked session has none), so their spans are made and ended here by hand, on the
 * server's tracer; a hook's span is an ordinary `Effect.withSpan` under them, so what the hook
 * does (a relay's upstream connection) nests below it.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { type Endpoint, formatEndpoint } from "../protocol/Endpoint.js"
import * as Reply from "../protocol/Reply.js"
import type * as Session from "../protocol/Session.js"

/**
 * @since 0.2.0
 * @category models
 */
export class SessionSpans {
  private readonly session: Tracer.Span
  private transaction: Tracer.Span | undefined = undefined

  constructor(
    private readonly tracer: Tracer.Tracer,
    private readonly clock: Clock.Clock,
    id: string,
    peer: Endpoint,
    local: Endpoint
  ) {
    this.session = this.start("smtp.session", undefined)
    this.session.attribute("smtp.session.id", id)
    this.session.attribute("client.address", peer.address)
    this.session.attribute("client.port", peer.port)
    this.session.attribute("server.address", formatEndpoint(local))
  }

  /** The fold's state changed: a transaction began (MAIL) or ended (its message, RSET, ...). */
  transition(before: Session.SessionState, after: Session.SessionState): void {
    const was = before.envelope !== undefined
    const is = after.envelope !== undefined
    if (was && !is) this.endTransaction(before.envelope!)
    else if (!was && is) this.transaction = this.start("smtp.transaction", this.session)
  }

  /** The message of the transaction was answered: its size and the (first) reply's code. */
  message(size: number, replies: Reply.Reply | ReadonlyArray<Reply.Reply>): void {
    const first = replies instanceof Reply.Reply ? replies : replies[0]
    this.transaction?.attribute("smtp.message.size", size)
    if (first !== undefined) this.transaction?.attribute("smtp.reply.code", first.code)
  }

  /** A handler's hook, as a span under the transaction (or the session). */
  hook<A, E, R>(name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.withSpan(effect, `smtp.handler.${name}`, { parent: this.transaction ?? this.session })
  }

  /** The session is over: what it was, and its end. */
  end(state: Session.SessionState, secure: boolean, tls: string | undefined): void {
    if (state.envelope !== undefined) this.endTransaction(state.envelope)
    this.session.attribute("tls", secure)
    if (tls !== undefined) this.session.attribute("tls.protocol", tls)
    if (state.auth !== undefined) this.session.attribute("smtp.auth.user", state.auth)
    if (state.greeting !== undefined) this.session.attribute("smtp.helo", state.greeting.name)
    this.session.end(this.clock.currentTimeNanosUnsafe(), Exit.void)
  }

  private endTransaction(envelope: Session.Envelope): void {
    const span = this.transaction
    if (span === undefined) return
    this.transaction = undefined
    span.attribute("smtp.recipients", envelope.recipients.length)
    span.end(this.clock.currentTimeNanosUnsafe(), Exit.void)
  }

  private start(name: string, parent: Tracer.Span | undefined): Tracer.Span {
    return this.tracer.span({
      name,
      parent: Option.fromNullishOr(parent),
      annotations: Context.empty(),
      links: [],
      startTime: this.clock.currentTimeNanosUnsafe(),
      kind: parent === undefined ? "server" : "internal",
      root: parent === undefined,
      sampled: true
    })
  }
}

/**
 * The spans of a new session, if the server traces: on the tracer in its context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  tracing: boolean,
  context: Context.Context<never>,
  id: string,
  peer: Endpoint,
  local: Endpoint
): SessionSpans | undefined =>
  tracing
    ? new SessionSpans(Context.get(context, Tracer.Tracer), Context.get(context, Clock.Clock), id, peer, local)
    : undefined
