/**
 * What both engines (the fast one in `src/internal/`, the reference in `src/session/`) need to
 * call a handler's connect and HELO/EHLO hooks and its per-session form (`session`) alike. The
 * session's states: docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import type * as Protocol from "../protocol/Protocol.js"
import type * as Reply from "../protocol/Reply.js"
import type * as Session from "../protocol/Session.js"
import type { Environment } from "./Environment.js"
import { guarded } from "./Guarded.js"
import type * as Transport from "./Transport.js"

/**
 * A session as its hooks are told of it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Described {
  readonly env: Pick<Environment, "id" | "config" | "spans">
  readonly transport: Transport.Transport
  readonly state: Session.SessionState
}

/**
 * What a hook is told of its session, now.
 *
 * @since 0.3.0
 */
export const info = (session: Described): SessionInfo => {
  const { env, transport, state } = session
  return {
    id: env.id,
    peer: transport.remote,
    local: transport.local,
    hostname: env.config.protocol.hostname,
    greeting: state.greeting,
    envelope: state.envelope,
    secure: transport.secure,
    tls: transport.tls,
    auth: state.auth,
    protocol: env.config.protocol.lmtp ? "lmtp" : "smtp"
  }
}

/**
 * A hook's call in a span of its own, when the server traces.
 *
 * @since 0.3.0
 */
export const traced = <A, E>(session: Described, hook: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> => {
  const spans = session.env.spans
  return spans === undefined ? effect : spans.hook(hook, effect)
}

/**
 * Does a session of this handler need an effect before its greeting (its `session`, or a
 * `connect` hook)? Without, the greeting goes out at once.
 *
 * @since 0.1.0
 */
export const opens = (handler: MessageHandler.Handler): boolean =>
  handler.session !== undefined || handler.connect !== undefined

/**
 * Opens a session: its hooks (made in `scope` by `session`, or the handler's own), then its
 * `connect` hook, each in `traced` (a span, when the server traces). A failure is the reply that
 * refuses the client instead of the greeting.
 *
 * @since 0.1.0
 */
export const open = (
  handler: MessageHandler.Handler,
  info: SessionInfo,
  scope: Scope.Scope,
  traced: <A, E>(hook: string, effect: Effect.Effect<A, E>) => Effect.Effect<A, E> = (_, effect) => effect
): Effect.Effect<Result.Result<MessageHandler.Hooks, Reply.Reply>> =>
  Effect.gen(() => openSteps(handler, info, scope, traced))

/**
 * The greeting a decision accepts, when it answers HELO/EHLO (the only replies that set a new
 * greeting); `undefined` for any other.
 *
 * @since 0.1.0
 */
export const greeting = (before: Session.SessionState, decision: Protocol.Decision): Session.Greeting | undefined => {
  const greeting = decision.state.greeting
  return decision._tag === "Reply" && greeting !== undefined && greeting !== before.greeting ? greeting : undefined
}

/**
 * The state after a HELO/EHLO the `helo` hook refused: as `greeting` left it (any transaction
 * dropped), but without a greeting.
 *
 * @since 0.1.0
 */
export const refusedGreeting = (state: Session.SessionState): Session.SessionState => ({
  ...state,
  greeting: undefined
})

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* openSteps(
  handler: MessageHandler.Handler,
  info: SessionInfo,
  scope: Scope.Scope,
  traced: <A, E>(hook: string, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
) {
  let hooks = MessageHandler.hooksOf(handler)
  if (handler.session !== undefined) {
    const made = yield* guarded(traced("session", Scope.provide(handler.session(info), scope)))
    if (Result.isFailure(made)) return made
    hooks = MessageHandler.hooksOf(made.success)
  }
  if (hooks.connect !== undefined) {
    const outcome = yield* guarded(traced("connect", hooks.connect(info)))
    if (Result.isFailure(outcome)) return Result.fail(outcome.failure)
  }
  return Result.succeed(hooks)
}
