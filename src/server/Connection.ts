/**
 * One SMTP session over one transport: frames are pulled from the reader and folded through
 * `Protocol.step`; the decisions that need the message handler run it, and replies are
 * batched until the next read that may wait.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Framer from "../protocol/Framer.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import type * as Sasl from "../protocol/Sasl.js"
import * as Session from "../protocol/Session.js"
import type * as Authenticator from "../auth/Authenticator.js"
import * as Authentication from "./Authentication.js"
import { accepted, guarded } from "./Guarded.js"
import * as Pipelining from "./Pipelining.js"
import * as Trace from "./Trace.js"
import * as Metrics from "./Metrics.js"
import * as Reader from "./Reader.js"
import type { ServerConfig } from "./ServerConfig.js"
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
  /** Checks AUTH credentials; AUTH is offered only with one (and mechanisms in the config). */
  readonly authenticator?: Authenticator.Service | undefined
  /** Runs last, once the session has ended and its transport is closed. */
  readonly onEnd?: (() => void) | undefined
  /** Forks the session's fiber, when it needs one (effects to run, or a transport that cannot park). */
  readonly fork: (session: Effect.Effect<void>) => Fiber.RuntimeFiber<void>
  /** The server's clock (TestClock in tests): the DATA rate is measured with it. */
  readonly clock: Clock.Clock
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
  readonly fiber: () => Fiber.RuntimeFiber<void> | undefined
  /** Is it waiting for the client's next command (with nothing to act on)? */
  readonly isIdle: () => boolean
}

/**
 * Starts one session on `transport`, served until QUIT, a close by either side, a fatal error,
 * or shutdown; the transport is closed when it ends, and then `onEnd` runs. The greeting goes
 * out at once. A session whose input needs no effect (the Sink's) runs with no fiber, parked on
 * its transport; the first command that needs one forks the fiber that serves the rest.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (initialTransport: Transport.Transport, env: Environment): Handle => {
  const { config, handler, clock } = env
  const protocol = config.protocol
  const framer = Framer.make({
    maxLineLength: config.maxLineLength,
    maxMessageSize: protocol.maxMessageSize,
    bareLineEndings: config.bareLineEndings
  })
  // STARTTLS replaces the transport (and the reader on it) in the middle of the session
  let transport = initialTransport
  let state = transport.secure ? Session.secured() : Session.initial
  let authFailures = 0
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
  const readerOn = (on: Transport.Transport) =>
    Reader.make(on, framer, {
      idleTimeout: config.idleTimeout,
      flush: takeFlush,
      minDataRate: config.minDataRate,
      dataRateGrace: config.dataRateGrace,
      now: () => clock.unsafeCurrentTimeMillis(),
      // traces are logged (an effect); a handler's reset hook is an effect after each transaction
      inline: config.trace || handler.reset !== undefined || on.writeNow === undefined ? undefined : inline
    })
  let reader = readerOn(transport)
  const info = (): SessionInfo => ({
    id: env.id,
    peer: transport.remote,
    local: transport.local,
    hostname: protocol.hostname,
    greeting: state.greeting,
    envelope: state.envelope,
    secure: transport.secure,
    tls: transport.tls,
    auth: state.auth
  })

  // the next line as the client sent it, not a command (SASL answers): never traced
  const nextLine = (): Effect.Effect<string | undefined, Reader.ReadFailure> =>
    Effect.suspend(function loop(): Effect.Effect<string | undefined, Reader.ReadFailure> {
      const frame = reader.bufferedCommand()
      if (frame === undefined) return Effect.flatMap(reader.fillAnswer, loop)
      // a line that is not text cannot be base64: the mechanism refuses it
      return Effect.succeed(frame._tag === "Line" ? (Protocol.lineText(frame.bytes) ?? "\u0000") : undefined)
    })

  // RFC 3207: the 220 goes out, plaintext the client pipelined after STARTTLS is dropped, and
  // the session starts over on the encrypted connection; a failed handshake ends it
  const startTls = (accept: () => Effect.Effect<Transport.Transport, Transport.TransportError>) =>
    Effect.gen(function* () {
      yield* flush
      framer.reset()
      const secured = yield* Effect.either(accept())
      if (Either.isLeft(secured)) {
        const cause = secured.left.cause
        yield* Effect.logInfo(`TLS handshake failed: ${cause instanceof Error ? cause.message : String(cause)}`)
        return false
      }
      transport = secured.right
      reader = readerOn(transport)
      state = Session.secured(state)
      return true
    })

  const authenticate = (mechanism: Sasl.Mechanism, initialResponse: string | undefined) =>
    Effect.gen(function* () {
      const authenticator = env.authenticator
      if (authenticator === undefined) return send(Reply.notImplemented)
      const outcome = yield* Authentication.exchange({
        mechanism,
        initialResponse,
        hostname: protocol.hostname,
        authenticator,
        session: info(),
        challenge: (text) =>
          Effect.suspend(() => {
            send(Reply.make(334, undefined, text))
            return nextLine()
          })
      })
      switch (outcome._tag) {
        case "Authenticated":
          state = Session.authenticated(state, outcome.identity)
          return send(Reply.authSucceeded)
        case "Reply":
          return send(outcome.reply)
        case "Refused": {
          authFailures++
          // a pause before each verdict slows guessing down; then the door closes
          yield* flush
          yield* Effect.sleep(config.authFailureDelay)
          if (authFailures >= config.maxAuthFailures) {
            send(Reply.tooManyAuthFailures)
            return "close" as const
          }
          return send(Reply.authFailed)
        }
      }
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
  const endTransaction = () =>
    handler.reset === undefined ? Effect.void : guarded(handler.reset(info())).pipe(Effect.asVoid)

  // a DATA whose body nobody reads (the handler accepts all): drained as it comes
  let draining: ReturnType<Reader.Reader["startData"]> | undefined
  let ended = false

  // a refused AUTH: what the client sent behind it would be its answers (credentials), sent out
  // of turn; they are dropped unread rather than taken, and traced, as commands
  const dropAnswersOfRefusedAuth = (frame: Reader.CommandFrame) => {
    if (framer.buffered > 0 && Pipelining.isAuth(frame)) framer.reset()
  }

  // the steps of the fold that need no effect: answered here, whether in the session's loop or
  // inline. Anything else is returned, its state not yet taken, for the loop's effects.
  const quick = (frame: Reader.CommandFrame): Protocol.Decision | "violation" | undefined => {
    if (config.forbidUnauthPipelining && framer.buffered > 0 && Pipelining.isViolation(state, frame)) {
      return "violation"
    }
    const decision = Protocol.step(protocol, state, frame)
    switch (decision._tag) {
      case "Reply":
        if (decision.slow === true) return decision
        state = decision.state
        dropAnswersOfRefusedAuth(frame)
        send(decision.reply)
        return undefined
      case "Mail":
        if (handler.mail !== MessageHandler.acceptAll) return decision
        state = decision.accepted
        send(Reply.senderOk)
        return undefined
      case "Rcpt":
        if (handler.rcpt !== MessageHandler.acceptAll) return decision
        state = decision.accepted
        send(Reply.recipientOk)
        return undefined
      case "Data":
        if (handler.data !== MessageHandler.acceptAll) return decision
        state = decision.state
        // the 354 goes out before the next read of the body (the reader flushes)
        send(Reply.startData)
        draining = reader.startData()
        return undefined
      default:
        return decision
    }
  }

  const writeNow = () => {
    if (pending === "") return true
    if (transport.writeNow?.(pending) !== true) return false
    pending = ""
    return true
  }

  // the fold in the transport's callback, while the session's fiber waits for a command: true
  // when all input was answered (replies written); false leaves the rest to the session's loop
  function inline(): boolean {
    // a read left waiting when the session ended (reads need no canceler): nothing more is done
    if (ended) return false
    while (true) {
      if (draining !== undefined) {
        const end = draining.drain()
        if (end === undefined) return writeNow()
        draining = undefined
        received(end, accepted)
      }
      if (env.isShuttingDown()) return false
      const frame = reader.bufferedCommand()
      if (frame === undefined) return writeNow()
      const decision = quick(frame)
      if (decision === undefined) continue
      if (fiber === undefined && decision !== "violation" && decision._tag === "Close" && quit(decision.reply)) {
        return true
      }
      reader.unread(frame)
      return false
    }
  }

  // QUIT to a parked session: the 221 and the lingering close, with no fiber
  const quit = (reply: Reply.Reply) => {
    const park = transport.park
    if (park === undefined) return false
    const before = pending
    send(reply)
    if (!writeNow()) {
      pending = before
      return false
    }
    ended = true
    park.end(() => env.onEnd?.())
    return true
  }

  const loop = Effect.gen(function* () {
    while (true) {
      if (draining !== undefined) {
        const data = draining
        draining = undefined
        received(yield* data.finish, accepted)
        if (handler.reset !== undefined) {
          yield* flush
          yield* endTransaction()
        }
        continue
      }
      if (env.isShuttingDown()) return send(Reply.shuttingDown)
      const frame = reader.bufferedCommand()
      if (frame === undefined) {
        yield* reader.fillCommand
        continue
      }
      if (config.trace) yield* Effect.logDebug(`<<< ${Trace.commandLine(frame)}`)
      const open = state.envelope !== undefined
      const decision = quick(frame)
      if (decision === "violation") return send(Reply.protocolViolation)
      if (decision !== undefined) state = decision.state
      switch (decision?._tag) {
        case undefined:
          break
        case "Reply":
          dropAnswersOfRefusedAuth(frame)
          if (decision.slow === true) {
            // past the soft error limit every error waits (Postfix's smtpd_error_sleep_time)
            yield* flush
            yield* Effect.sleep(config.errorDelay)
          }
          send(decision.reply)
          break
        case "StartTls": {
          const accept = transport.acceptTls
          if (accept === undefined) {
            send(Reply.notImplemented)
            break
          }
          send(decision.reply)
          if (!(yield* startTls(accept))) return
          break
        }
        case "Auth":
          if ((yield* authenticate(decision.mechanism as Sasl.Mechanism, decision.initialResponse)) === "close") return
          break
        case "Close":
          return send(decision.reply)
        case "Mail": {
          const outcome = yield* guarded(handler.mail(info(), decision.from, decision.parameters))
          if (Either.isRight(outcome)) state = decision.accepted
          send(Either.isRight(outcome) ? Reply.senderOk : outcome.left)
          break
        }
        case "Rcpt": {
          const outcome = yield* guarded(handler.rcpt(info(), decision.recipient))
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
      if (open && state.envelope === undefined && handler.reset !== undefined) {
        // the client has its reply before the handler tidies up (a relay says QUIT upstream)
        yield* flush
        yield* endTransaction()
      }
    }
  })

  // built when a session ends, not held by every open one
  const lastFlush = () => Effect.catchAll(flush, (error) => Effect.logDebug("write failed", error))
  // shutdown past the grace period: tell the client, briefly, then close
  const shutdownNotice = () =>
    Effect.suspend(() => {
      send(Reply.shuttingDown)
      return flush
    }).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore)
  const finalize = (exit: Exit.Exit<void>) =>
    Effect.suspend(() => {
      ended = true
      const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
      return (interrupted ? shutdownNotice() : Effect.void).pipe(
        Effect.zipRight(Effect.suspend(() => (state.envelope === undefined ? Effect.void : endTransaction()))),
        // the transport of the moment: after STARTTLS it is the encrypted one
        Effect.ensuring(Effect.suspend(() => transport.close)),
        Effect.ensuring(Effect.sync(() => env.onEnd?.()))
      )
    })

  // one handler and one finalizer for every way out: each wrapper is a frame that an idle
  // session holds for as long as it is open
  const serve = (session: Effect.Effect<void, Reader.ReadFailure | Transport.TransportError>) =>
    env.fork(
      session.pipe(
        Effect.matchEffect({
          onFailure: (error) => {
            if (error._tag !== "ReadFailure") return Effect.logDebug("write failed", error)
            if (error.reason === "timeout") send(Reply.idleTimeout)
            // never read the rest of a slow DATA as commands: say why and close
            if (error.reason === "slow") send(Reply.dataTimeout)
            return lastFlush()
          },
          onSuccess: lastFlush
        }),
        Effect.onExit(finalize)
      )
    )
  let fiber: Fiber.RuntimeFiber<void> | undefined
  const wake = () => {
    fiber ??= serve(loop)
  }

  // an early talker: its commands were written before it could have read our greeting
  if (config.forbidUnauthPipelining && transport.hasInput?.() === true) {
    send(Reply.protocolViolation)
    fiber = serve(Effect.void)
  } else {
    send(greeting)
    // (a traced greeting is logged by the fiber's flush)
    if (config.trace || !writeNow() || !reader.park(wake)) wake()
  }
  return {
    fiber: () => {
      if (fiber === undefined && !ended) {
        transport.park?.stop()
        wake()
      }
      return fiber
    },
    isIdle: () => !ended && reader.waitingForCommand()
  }
}
