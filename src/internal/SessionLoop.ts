/**
 * A session's fiber: the steps of the fold that need effects (the handler's hooks, STARTTLS,
 * AUTH, slow errors, the body a handler reads), the reads that wait, and the end of the session.
 * It is forked when a session first needs it (see `Connection`), on the session's state.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Exit from "effect/Exit"
import type * as Stream from "effect/Stream"
import type * as Message from "../handler/Message.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import type * as Sasl from "../protocol/Sasl.js"
import * as Session from "../protocol/Session.js"
import * as Authentication from "./Authentication.js"
import type { Live } from "./Live.js"
import { accepted, guarded } from "./Guarded.js"
import type * as Reader from "./Reader.js"
import * as Trace from "./Trace.js"
import type * as Transport from "./Transport.js"

// a message as its handler gets it: the body stream is built when the handler asks for it. (A
// getter on the prototype: an object literal's getter would give each message a hidden class.)
class Received implements Message.Message {
  constructor(
    readonly envelope: Session.Envelope,
    private readonly stream: () => Stream.Stream<Uint8Array, Message.BodyError>,
    readonly decodeData: boolean
  ) {}
  get body() {
    return this.stream()
  }
}

/**
 * Serves the session from where it is until it ends, then closes its transport and runs its
 * `onEnd`. With `serveCommands` false it only writes what is pending and ends.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (live: Live, serveCommands = true): Effect.Effect<void> => {
  const { env } = live
  const { config, handler } = env
  const protocol = config.protocol
  const flush = Effect.suspend(() => live.takeFlush() ?? Effect.void)
  const info = (): SessionInfo => ({
    id: env.id,
    peer: live.transport.remote,
    local: live.transport.local,
    hostname: protocol.hostname,
    greeting: live.state.greeting,
    envelope: live.state.envelope,
    secure: live.transport.secure,
    tls: live.transport.tls,
    auth: live.state.auth
  })

  // the next line as the client sent it, not a command (SASL answers): never traced
  const nextLine = (): Effect.Effect<string | undefined, Reader.ReadFailure> =>
    Effect.suspend(function loop(): Effect.Effect<string | undefined, Reader.ReadFailure> {
      const frame = live.reader.bufferedCommand()
      if (frame === undefined) return Effect.flatMap(live.reader.fillAnswer(), loop)
      // a line that is not text cannot be base64: the mechanism refuses it
      return Effect.succeed(frame._tag === "Line" ? (Protocol.lineText(frame.bytes) ?? "\u0000") : undefined)
    })

  // RFC 3207: the 220 goes out, plaintext the client pipelined after STARTTLS is dropped, and
  // the session starts over on the encrypted connection; a failed handshake ends it
  const startTls = (accept: () => Effect.Effect<Transport.Transport, Transport.TransportError>) =>
    Effect.gen(function* () {
      yield* flush
      live.framer.reset()
      const secured = yield* Effect.result(accept())
      if (Result.isFailure(secured)) {
        const cause = secured.failure.cause
        yield* Effect.logInfo(`TLS handshake failed: ${cause instanceof Error ? cause.message : String(cause)}`)
        return false
      }
      live.transport = secured.success
      live.reader = live.readerOn(live.transport)
      live.state = Session.secured(live.state)
      return true
    })

  const authenticate = (mechanism: Sasl.Mechanism, initialResponse: string | undefined) =>
    Effect.gen(function* () {
      const authenticator = env.authenticator
      if (authenticator === undefined) return live.send(Reply.notImplemented)
      const outcome = yield* Authentication.exchange({
        mechanism,
        initialResponse,
        hostname: protocol.hostname,
        authenticator,
        session: info(),
        challenge: (text) =>
          Effect.suspend(() => {
            live.send(Reply.make(334, undefined, text))
            return nextLine()
          })
      })
      switch (outcome._tag) {
        case "Authenticated":
          live.state = Session.authenticated(live.state, outcome.identity)
          return live.send(Reply.authSucceeded)
        case "Reply":
          return live.send(outcome.reply)
        case "Refused": {
          live.authFailures++
          // a pause before each verdict slows guessing down; then the door closes
          yield* flush
          yield* Effect.sleep(config.authFailureDelay)
          if (live.authFailures >= config.maxAuthFailures) {
            live.send(Reply.tooManyAuthFailures)
            return "close" as const
          }
          return live.send(Reply.authFailed)
        }
      }
    })

  const receive = (envelope: Session.Envelope) =>
    Effect.suspend(() => {
      live.send(Reply.startData)
      const data = live.reader.startData()
      // the client waits for 354 before it sends the body, whatever the handler does first
      return Effect.gen(function* () {
        yield* flush
        const message = new Received(envelope, data.body, config.decodeData)
        const outcome = yield* guarded(handler.data(info(), message))
        live.received(yield* data.finish, outcome)
      })
    })

  // the handler's per-transaction resources go when the transaction does
  const endTransaction = () =>
    handler.reset === undefined ? Effect.void : guarded(handler.reset(info())).pipe(Effect.asVoid)

  const loop = Effect.gen(function* () {
    while (true) {
      if (live.draining !== undefined) {
        const data = live.draining
        live.draining = undefined
        live.received(yield* data.finish, accepted)
        if (handler.reset !== undefined) {
          yield* flush
          yield* endTransaction()
        }
        continue
      }
      if (env.isShuttingDown()) return live.send(Reply.shuttingDown)
      const frame = live.reader.bufferedCommand()
      if (frame === undefined) {
        yield* live.reader.fillCommand()
        continue
      }
      if (config.trace) yield* Effect.logDebug(`<<< ${Trace.commandLine(frame)}`)
      const open = live.state.envelope !== undefined
      const decision = live.quick(frame)
      if (decision === "violation") return live.send(Reply.protocolViolation)
      if (decision !== undefined) live.state = decision.state
      switch (decision?._tag) {
        case undefined:
          break
        case "Reply":
          live.dropAnswersOfRefusedAuth(frame)
          if (decision.slow === true) {
            // past the soft error limit every error waits (Postfix's smtpd_error_sleep_time)
            yield* flush
            yield* Effect.sleep(config.errorDelay)
          }
          live.send(decision.reply)
          break
        case "StartTls": {
          const accept = live.transport.acceptTls
          if (accept === undefined) {
            live.send(Reply.notImplemented)
            break
          }
          live.send(decision.reply)
          if (!(yield* startTls(accept))) return
          break
        }
        case "Auth":
          if ((yield* authenticate(decision.mechanism as Sasl.Mechanism, decision.initialResponse)) === "close") return
          break
        case "Close":
          return live.send(decision.reply)
        case "Mail": {
          const outcome = yield* guarded(handler.mail(info(), decision.from, decision.parameters))
          if (Result.isSuccess(outcome)) live.state = decision.accepted
          live.send(Result.isSuccess(outcome) ? Reply.senderOk : outcome.failure)
          break
        }
        case "Rcpt": {
          const outcome = yield* guarded(handler.rcpt(info(), decision.recipient))
          if (Result.isSuccess(outcome)) live.state = decision.accepted
          live.send(Result.isSuccess(outcome) ? Reply.recipientOk : outcome.failure)
          break
        }
        case "Data":
          yield* receive(decision.envelope)
          break
        case "User": {
          const command = config.commands[decision.verb]
          const outcome =
            command === undefined
              ? Result.fail(Reply.unknownCommand)
              : yield* guarded(command(info(), decision.argument))
          live.send(Result.merge(outcome))
          break
        }
      }
      if (open && live.state.envelope === undefined && handler.reset !== undefined) {
        // the client has its reply before the handler tidies up (a relay says QUIT upstream)
        yield* flush
        yield* endTransaction()
      }
    }
  })

  const lastFlush = () => Effect.catch(flush, (error) => Effect.logDebug("write failed", error))
  // shutdown past the grace period: tell the client, briefly, then close
  const shutdownNotice = () =>
    Effect.suspend(() => {
      live.send(Reply.shuttingDown)
      return flush
    }).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore)
  const finalize = (exit: Exit.Exit<void>) =>
    Effect.suspend(() => {
      live.ended = true
      const interrupted = Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
      return (interrupted ? shutdownNotice() : Effect.void).pipe(
        Effect.andThen(Effect.suspend(() => (live.state.envelope === undefined ? Effect.void : endTransaction()))),
        // the transport of the moment: after STARTTLS it is the encrypted one
        Effect.ensuring(Effect.suspend(() => live.transport.close)),
        Effect.ensuring(Effect.sync(() => env.onEnd?.()))
      )
    })

  // one handler and one finalizer for every way out: each wrapper is a frame that an idle
  // session holds for as long as it is open
  return (serveCommands ? loop : Effect.void).pipe(
    Effect.matchEffect({
      onFailure: (error) => {
        if (error._tag !== "ReadFailure") return Effect.logDebug("write failed", error)
        if (error.reason === "timeout") live.send(Reply.idleTimeout)
        // never read the rest of a slow DATA as commands: say why and close
        if (error.reason === "slow") live.send(Reply.dataTimeout)
        return lastFlush()
      },
      onSuccess: lastFlush
    }),
    Effect.onExit(finalize)
  )
}
