/**
 * One SMTP session over one transport: frames are pulled from the reader and folded through
 * `Protocol.step`; the decisions that need the message handler run it, and replies are
 * batched until the next read that may wait.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Framer from "../protocol/Framer.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import * as Session from "../protocol/Session.js"
import * as Metrics from "./Metrics.js"
import * as Reader from "./Reader.js"
import type { ServerConfig } from "./ServerConfig.js"
import * as SmtpError from "./SmtpError.js"
import type * as Transport from "./Transport.js"

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
  /** Receives a probe that tells whether the session is idle between commands. */
  readonly onIdleProbe?: ((isIdle: () => boolean) => void) | undefined
}

// a handler's failure as a reply: SMTP errors say theirs (a cause they carry is logged),
// anything else is logged and answered 451. A vanished client needs no reply and no alarm.
const guarded = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Either.Either<A, Reply.Reply>> =>
  effect.pipe(
    Effect.map(Either.right),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const failure = Cause.failureOption(cause)
      if (failure._tag === "Some") {
        const error = failure.value
        if (error instanceof Message.ClientDisconnected) return Effect.succeed(Either.left(Reply.localError))
        if (SmtpError.isSmtpError(error)) {
          const reply = Effect.succeed(Either.left(SmtpError.reply(error)))
          return "cause" in error && error.cause !== undefined
            ? Effect.zipRight(Effect.logWarning(`message handler: ${error._tag}`, error.cause), reply)
            : reply
        }
      }
      return Effect.logError("message handler failed", cause).pipe(Effect.as(Either.left(Reply.localError)))
    })
  )

// what a hook that is not called (MessageHandler.acceptAll) would have answered
const accepted = Either.right(undefined)

/**
 * Serves one session on `transport` until QUIT, a close by either side, a fatal error, or
 * shutdown. Never fails; closes the transport when done.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (transport: Transport.Transport, env: Environment): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { config, handler } = env
    const protocol = config.protocol
    const framer = Framer.make({
      maxLineLength: config.maxLineLength,
      maxMessageSize: protocol.maxMessageSize,
      bareLineEndings: config.bareLineEndings
    })
    let state = Session.initial
    const greeting = env.greeting ?? Reply.greeting(protocol.hostname)
    let pending = ""
    const send = (reply: Reply.Reply) => {
      pending += Reply.encode(reply, Session.isEsmtp(state))
    }
    const takeFlush = () => {
      if (pending === "") return undefined
      const out = pending
      pending = ""
      if (config.trace) return Effect.zipRight(Effect.logDebug(`>>> ${out.trimEnd()}`), transport.write(out))
      return transport.write(out)
    }
    const flush = Effect.suspend(() => takeFlush() ?? Effect.void)
    const reader = Reader.make(transport, framer, { idleTimeout: config.idleTimeout, flush: takeFlush })
    env.onIdleProbe?.(reader.waitingForCommand)
    const info = (): SessionInfo => ({
      id: env.id,
      peer: transport.remote,
      local: transport.local,
      hostname: protocol.hostname,
      greeting: state.greeting,
      envelope: state.envelope,
      secure: transport.secure
    })

    const received = (end: Reader.DataEnd, outcome: Either.Either<void | Reply.Reply, Reply.Reply>) => {
      state = Session.reset(state)
      if (end.aborted !== undefined) {
        Metrics.messagesRejected.unsafeUpdate(1, [])
        return send(end.aborted === "MessageTooBig" ? Reply.messageTooBig : Reply.bareLineEnding)
      }
      if (Either.isLeft(outcome)) {
        Metrics.messagesRejected.unsafeUpdate(1, [])
        return send(outcome.left)
      }
      Metrics.messagesAccepted.unsafeUpdate(1, [])
      Metrics.messageSize.unsafeUpdate(end.size, [])
      // a handler written in plain JS may return anything: only a Reply replaces the 250
      send(outcome.right instanceof Reply.Reply ? outcome.right : Reply.accepted)
    }

    const receive = (envelope: Session.Envelope) =>
      Effect.suspend(() => {
        send(Reply.startData)
        const data = reader.startData()
        // the 354 goes out before the first read of the body (the reader flushes), so a handler
        // that is not called needs no flush of its own
        if (handler.data === MessageHandler.acceptAll) return Effect.map(data.finish, (end) => received(end, accepted))
        // the client waits for 354 before it sends the body, whatever the handler does first
        return Effect.gen(function* () {
          yield* flush
          const message: Message.Message = {
            envelope,
            get body() {
              return data.body()
            },
            decodeData: config.decodeData
          }
          const outcome = yield* guarded(handler.data(info(), message))
          received(yield* data.finish, outcome)
        })
      })

    // the handler's per-transaction resources go when the transaction does
    const endTransaction = Effect.suspend(() =>
      handler.reset === undefined ? Effect.void : guarded(handler.reset(info())).pipe(Effect.asVoid)
    )

    const session = Effect.gen(function* () {
      send(greeting)
      while (true) {
        if (env.isShuttingDown()) return send(Reply.shuttingDown)
        const frame = reader.bufferedCommand()
        if (frame === undefined) {
          yield* reader.fillCommand
          continue
        }
        if (config.trace) {
          yield* Effect.logDebug(
            frame._tag === "Line" ? `<<< ${new TextDecoder().decode(frame.bytes)}` : "<<< (line too long)"
          )
        }
        const open = state.envelope !== undefined
        const decision = Protocol.step(protocol, state, frame)
        state = decision.state
        switch (decision._tag) {
          case "Reply":
            send(decision.reply)
            break
          case "Close":
            return send(decision.reply)
          case "Mail": {
            const outcome =
              handler.mail === MessageHandler.acceptAll
                ? accepted
                : yield* guarded(handler.mail(info(), decision.from, decision.parameters))
            if (Either.isRight(outcome)) state = decision.accepted
            send(Either.isRight(outcome) ? Reply.senderOk : outcome.left)
            break
          }
          case "Rcpt": {
            const outcome =
              handler.rcpt === MessageHandler.acceptAll
                ? accepted
                : yield* guarded(handler.rcpt(info(), decision.recipient))
            if (Either.isRight(outcome)) state = decision.accepted
            send(Either.isRight(outcome) ? Reply.recipientOk : outcome.left)
            break
          }
          case "Data":
            yield* receive(decision.envelope)
            break
          case "User": {
            const command = config.commands[decision.verb]
            const outcome =
              command === undefined
                ? Either.left(Reply.unknownCommand)
                : yield* guarded(command(info(), decision.argument))
            send(Either.merge(outcome))
            break
          }
        }
        if (open && state.envelope === undefined) yield* endTransaction
      }
    })

    return session.pipe(
      Effect.catchTag("ReadFailure", (failure) =>
        Effect.sync(() => {
          if (failure.reason === "timeout") send(Reply.idleTimeout)
        })
      ),
      Effect.zipRight(flush),
      Effect.catchAll((error) => Effect.logDebug("write failed", error)),
      // shutdown past the grace period: tell the client, briefly, then close
      Effect.onInterrupt(() =>
        Effect.sync(() => send(Reply.shuttingDown)).pipe(
          Effect.zipRight(flush),
          Effect.interruptible,
          Effect.timeout("1 second"),
          Effect.ignore
        )
      ),
      Effect.ensuring(
        Effect.suspend(() => (state.envelope === undefined ? Effect.void : endTransaction)).pipe(
          Effect.zipRight(transport.close)
        )
      )
    )
  })
