/**
 * What a session and its server give each other: the server's environment for each
 * connection, and the handle it keeps on each session (docs/sessions.md).
 *
 * @since 0.3.0
 */
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Authenticator from "../auth/Authenticator.js"
import type * as MessageHandler from "../handler/MessageHandler.js"
import type * as Reply from "../protocol/Reply.js"
import type { ServerConfig } from "../server/ServerConfig.js"
import type * as Spans from "./Spans.js"

/**
 * What a connection needs from its server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  readonly id: string
  readonly config: ServerConfig
  readonly handler: MessageHandler.Handler
  /** Has the server begun to shut down? Checked before waiting for each command. */
  readonly isShuttingDown: () => boolean
  /** The 220 greeting, made once per server. */
  readonly greeting?: Reply.Reply | undefined
  /** Checks AUTH credentials; AUTH is offered only with one (and mechanisms in the config). */
  readonly authenticator?: Authenticator.Service | undefined
  /** Runs last, once the session has ended and its transport is closed. */
  readonly onEnd?: (() => void) | undefined
  /** The session's tracing spans, when the server traces. */
  readonly spans?: Spans.SessionSpans | undefined
  /** Forks the session's fiber, when it needs one (effects to run, or a transport that cannot park). */
  readonly fork: (session: Effect.Effect<void>) => Fiber.Fiber<void>
  /** Forks a hook's own fiber, while the session has none (`HookFiber`), with the session's annotations. */
  readonly forkHook: (hook: Effect.Effect<void>) => Fiber.Fiber<void>
  /** The server's clock (TestClock in tests): the DATA rate is measured with it. */
  readonly clock: Clock.Clock
  /** The server's services and references: metrics are counted in its registry. */
  readonly context: Context.Context<never>
}

/**
 * A session that has started.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle {
  /**
   * The session's fiber, forked now if the session was parked; `undefined` once it ended while
   * parked (its connection is closing).
   */
  readonly fiber: () => Fiber.Fiber<void> | undefined
  /** Is it waiting for the client's next command (with nothing to act on)? */
  readonly isIdle: () => boolean
}
