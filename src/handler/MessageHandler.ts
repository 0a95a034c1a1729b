/**
 * The message handler service: what the server asks at MAIL, at RCPT, and what it hands the
 * message to at DATA. smtpd's `process_message` and aiosmtpd's handler hooks, as an Effect
 * service provided by a Layer.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Parameters from "../protocol/Parameters.js"
import type * as Reply from "../protocol/Reply.js"
import type * as Session from "../protocol/Session.js"
import type * as SmtpError from "../protocol/SmtpError.js"
import type * as Message from "./Message.js"
import type { SessionInfo } from "./SessionInfo.js"
import type * as Verdicts from "./Verdicts.js"

/**
 * A handler's hooks, each optional: a hook that is absent accepts, and costs nothing (the server
 * answers for it without an effect).
 *
 * @since 0.1.0
 * @category models
 */
export interface Hooks {
  /**
   * A client connected: fail to refuse it with that reply instead of the greeting (`ServerBusy`
   * → 421), and the connection closes.
   */
  readonly connect?: ((session: SessionInfo) => Effect.Effect<void, SmtpError.SmtpError>) | undefined
  /**
   * HELO/EHLO: fail to refuse the greeting with that reply instead of 250; the session is then
   * without a greeting, as after a HELO that was not understood.
   */
  readonly helo?:
    ((session: SessionInfo, greeting: Session.Greeting) => Effect.Effect<void, SmtpError.SmtpError>) | undefined
  /** MAIL FROM: fail to refuse the sender (250 2.1.0 otherwise). */
  readonly mail?:
    | ((
        session: SessionInfo,
        from: string,
        parameters: Parameters.Parameters
      ) => Effect.Effect<void, SmtpError.SmtpError>)
    | undefined
  /** RCPT TO: fail to refuse this recipient (250 2.1.5 otherwise). */
  readonly rcpt?:
    ((session: SessionInfo, recipient: Session.Recipient) => Effect.Effect<void, SmtpError.SmtpError>) | undefined
  /**
   * DATA (or BDAT): consume `message.body` and store or pass the message on. Succeed for 250
   * 2.0.0 (or with a Reply of your own), fail with an SMTP error to refuse it; succeed with
   * `Verdicts.perRecipient([...])` to answer each recipient on its own (LMTP replies once per
   * recipient; SMTP gets them folded into one reply). Absent: the server drains the body and
   * answers 250.
   */
  readonly data?:
    | ((
        session: SessionInfo,
        message: Message.Message
      ) => Effect.Effect<void | Reply.Reply | Verdicts.PerRecipient, SmtpError.SmtpError | Message.BodyError>)
    | undefined
  /**
   * The transaction that an accepted MAIL opened is over: after the reply to DATA, or on RSET,
   * HELO/EHLO, QUIT, or the end of the session (even an interrupted one). Handlers that hold
   * something per transaction (an upstream connection, a temporary file) release it here.
   */
  readonly reset?: ((session: SessionInfo) => Effect.Effect<void>) | undefined
}

/**
 * A handler's per-session form (go-smtp's `NewSession`): run once per connection, before the
 * greeting, in a scope that closes when the session ends (also on interruption or shutdown);
 * the hooks it gives serve that session alone, so what belongs to one session lives in them.
 * Its failure refuses the client with the error's reply instead of the greeting.
 *
 * @since 0.1.0
 * @category models
 */
export type PerSession = (session: SessionInfo) => Effect.Effect<Hooks, SmtpError.SmtpError, Scope.Scope>

/**
 * A handler: one set of hooks shared by all sessions, or, with `session`, hooks made for each.
 * `mail`, `rcpt` and `data` are always there to call (`acceptAll` when not written).
 *
 * @since 0.1.0
 * @category models
 */
export interface Handler extends Hooks {
  readonly mail: NonNullable<Hooks["mail"]>
  readonly rcpt: NonNullable<Hooks["rcpt"]>
  readonly data: NonNullable<Hooks["data"]>
  /** With it, the hooks of each session are the ones it gives, and the others here are not used. */
  readonly session?: PerSession | undefined
}

/**
 * @since 0.1.0
 * @category services
 */
export class MessageHandler extends Context.Service<MessageHandler, Handler>()("effect-smtpd/MessageHandler") {}

/**
 * A handler from the hooks given, or from `session` (its per-session form); the hooks not given
 * accept everything, and an absent `data` reads the message and discards it (the server drains
 * it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (hooks: Hooks & { readonly session?: PerSession | undefined }): Handler =>
  MessageHandler.of({
    connect: hooks.connect,
    helo: hooks.helo,
    mail: hooks.mail ?? acceptAll,
    rcpt: hooks.rcpt ?? acceptAll,
    data: hooks.data ?? acceptAll,
    reset: hooks.reset,
    session: hooks.session
  })

/**
 * The hook that accepts without looking: the server takes it for an absent hook and skips the
 * call, so it costs nothing per message; an unread body is drained by the server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acceptAll = (): Effect.Effect<void> => Effect.void

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (hooks: Hooks & { readonly session?: PerSession | undefined }): Layer.Layer<MessageHandler> =>
  Layer.succeed(MessageHandler, make(hooks))

const absent = <F>(hook: F | undefined): F | undefined =>
  hook === undefined || (hook as unknown) === acceptAll ? undefined : hook

const shared = new WeakMap<Hooks, Hooks>()

/**
 * The hooks a session calls, with `acceptAll` taken for absent (`undefined`): what the server
 * keys its shortcuts on. Made once per set of hooks (remembered), so a session of a handler
 * without `session` allocates nothing for it.
 *
 * @since 0.1.0
 * @category utils
 */
export const hooksOf = (hooks: Hooks): Hooks => {
  let resolved = shared.get(hooks)
  if (resolved === undefined) {
    resolved = {
      connect: hooks.connect,
      helo: hooks.helo,
      mail: absent(hooks.mail),
      rcpt: absent(hooks.rcpt),
      data: absent(hooks.data),
      reset: hooks.reset
    }
    shared.set(hooks, resolved)
  }
  return resolved
}
