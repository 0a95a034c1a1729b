/**
 * A session's fiber: the steps of the fold that need effects (the handler's hooks, STARTTLS,
 * AUTH, slow errors, the body a handler reads), the reads that wait, and the end of the session.
 * It is forked when a session first needs it (see `Connection`), on the session's state. The
 * session's states and who holds what: docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import type * as Parameters from "../protocol/Parameters.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import type * as Sasl from "../protocol/Sasl.js"
import * as Session from "../protocol/Session.js"
import * as Authentication from "./Authentication.js"
import * as CommandDeadline from "./CommandDeadline.js"
import type * as DataSection from "./DataSection.js"
import type { Live } from "./Live.js"
import { accepted, guarded } from "./Guarded.js"
import * as Hooks from "./Hooks.js"
import type * as Reader from "./Reader.js"
import * as Trace from "./Trace.js"
import * as Transport from "./Transport.js"

/**
 * Serves the session from where it is until it ends, then closes its transport and runs its
 * `onEnd`. With `serveCommands` false it only writes what is pending and ends.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (live: Live, serveCommands = true): Effect.Effect<void> => new SessionFiber(live).run(serveCommands)

// What the fiber needs besides the session's state, built once when it is forked: the step of
// each command that needs effects is a method here.
class SessionFiber {
  /** Writes the pending replies (one effect for the fiber's whole life). */
  private readonly flush: Effect.Effect<void, Transport.TransportError>
  /** The scope of the handler's per-session hooks (`session`), closed when the session ends. */
  private scope: Scope.Closeable | undefined = undefined
  /** The session parked again: the fiber ends without ending it. */
  private parked = false

  constructor(private readonly live: Live) {
    this.flush = Effect.suspend(() => live.takeFlush() ?? Effect.void)
  }

  run(serveCommands: boolean): Effect.Effect<void> {
    // one handler and one finalizer for every way out: each wrapper is a frame that an idle
    // session holds for as long as it is open
    const serve = Hooks.opens(this.live.env.handler) ? this.open() : this.serve()
    return (serveCommands ? serve : Effect.void).pipe(
      Effect.matchEffect({
        onFailure: (error) => this.failed(error),
        onSuccess: () => (this.parked ? Effect.void : this.lastFlush())
      }),
      Effect.onExit((exit) => (this.parked ? Effect.void : this.finalize(exit)))
    )
  }

  // the handler's `session` and `connect` hook, before the greeting: a refusal is the reply
  // instead of the greeting, and the session ends
  private open(): Effect.Effect<void, Reader.ReadFailure | Transport.TransportError> {
    const live = this.live
    return Effect.suspend(() => {
      this.scope = Scope.makeUnsafe()
      const traced = <A, E>(hook: string, effect: Effect.Effect<A, E>) => this.traced(hook, effect)
      return Effect.flatMap(Hooks.open(live.env.handler, this.info(), this.scope, traced), (opened) => {
        if (Result.isFailure(opened)) return Effect.sync(() => live.send(opened.failure))
        live.opened(opened.success)
        live.send(live.env.greeting ?? Protocol.greeting(live.env.config.protocol))
        return this.serve()
      })
    })
  }

  // The fold: one command at a time, its step carried out here when `Live.quick` could not
  // answer it inline. The cases stay in this one generator: a step of its own would cost an
  // effect per command. (Generators here are methods, one function for every session: a
  // generator function made per session is kept with it by V8's old generation, gc.md.)
  private serve(): Effect.Effect<void, Reader.ReadFailure | Transport.TransportError> {
    return Effect.gen({ self: this }, this.serveSteps)
  }

  private *serveSteps() {
    const live = this.live
    const { env } = live
    const config = env.config
    let greeting: Session.Greeting | undefined
    let received = false
    while (true) {
      // a hook that began in its own fiber while the session had none
      const flight = live.inFlight.claim()
      if (flight !== undefined) yield* flight
      if (live.closing) return
      if (live.draining !== undefined) {
        yield* this.drained(live.draining)
        continue
      }
      if (live.collecting !== undefined) {
        // a message too big to keep inline
        const data = live.collecting
        live.collecting = undefined
        yield* this.handled(data)
        received = live.state.envelope === undefined
        continue
      }
      if (env.isShuttingDown()) return live.send(Reply.shuttingDown)
      const frame = live.reader.bufferedCommand()
      if (frame === undefined) {
        // a message is over and nothing waits: the session parks again, its fiber ends (a
        // fiber held from message to message costs more than a new one for the next)
        if (received && this.scope === undefined && live.parkAgain()) {
          this.parked = true
          return
        }
        received = false
        yield* live.reader.fillCommand()
        continue
      }
      if (config.trace) yield* Effect.logDebug(`<<< ${Trace.commandLine(frame)}`)
      const before = live.state
      const open = before.envelope !== undefined
      const step = live.quick(frame)
      if (step._tag === "OutOfTurn") return live.send(Reply.protocolViolation)
      if (step._tag !== "Answered") live.state = step.state
      switch (step._tag) {
        case "Reply":
          live.dropAnswersOfRefusedAuth(frame)
          if (step.discard !== undefined) live.framer.discard(step.discard)
          // past the soft error limit every error waits (Postfix's smtpd_error_sleep_time)
          if (step.slow === true) yield* this.pause(config.errorDelay)
          // HELO/EHLO to a helo hook; any other reply costs no effect
          greeting = live.hooks.helo === undefined ? undefined : Hooks.greeting(before, step)
          if (greeting === undefined) live.send(step.reply)
          else yield* this.greet(greeting, step.reply)
          break
        case "StartTls":
          if (!(yield* this.startTls(step.reply))) return
          break
        case "Auth":
          if ((yield* this.authenticate(step.mechanism as Sasl.Mechanism, step.initialResponse)) === "close") return
          break
        case "Close":
          return live.send(step.reply)
        case "Mail":
          live.hookAnswered(step.accepted, Reply.senderOk, yield* this.mailHook(step.from, step.parameters))
          break
        case "Rcpt":
          live.hookAnswered(step.accepted, Reply.recipientOk, yield* this.rcptHook(step.recipient))
          break
        case "Data":
        case "Bdat":
          yield* this.receive(step)
          received = live.state.envelope === undefined
          break
        case "User":
          live.send(Result.merge(yield* this.userCommand(step.verb, step.argument)))
          break
      }
      if (open && live.state.envelope === undefined && live.hooks.reset !== undefined) {
        // the client has its reply before the handler tidies up (a relay says QUIT upstream)
        yield* this.flush
        yield* this.endTransaction()
      }
      if (live.closing) return
    }
  }

  // the end of a DATA begun inline, whose body nobody reads
  private drained(data: DataSection.DataSection): Effect.Effect<void, Reader.ReadFailure | Transport.TransportError> {
    const live = this.live
    live.draining = undefined
    return Effect.flatMap(data.finish(), (end) => {
      data.answer(end, accepted, live.env)
      return live.hooks.reset === undefined ? Effect.void : Effect.andThen(this.flush, this.endTransaction())
    })
  }

  // HELO/EHLO to the `helo` hook: its refusal leaves the session without a greeting
  private greet(greeting: Session.Greeting, reply: Reply.Reply): Effect.Effect<void> {
    const live = this.live
    return Effect.map(guarded(this.traced("helo", live.hooks.helo!(this.info(), greeting))), (outcome) => {
      if (Result.isSuccess(outcome)) return live.send(reply)
      live.state = Hooks.refusedGreeting(live.state)
      live.send(outcome.failure)
    })
  }

  private mailHook(from: string, parameters: Parameters.Parameters) {
    const mail = this.live.hooks.mail
    return mail === undefined
      ? Effect.succeed(accepted)
      : guarded(this.traced("mail", mail(this.info(), from, parameters)))
  }

  private rcptHook(recipient: Session.Recipient) {
    const rcpt = this.live.hooks.rcpt
    return rcpt === undefined ? Effect.succeed(accepted) : guarded(this.traced("rcpt", rcpt(this.info(), recipient)))
  }

  // the replies go out, then the session waits
  private pause(duration: Duration.Duration): Effect.Effect<void, Transport.TransportError> {
    return Effect.andThen(this.flush, Effect.sleep(duration))
  }

  private traced<A, E>(hook: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Hooks.traced(this.live, hook, effect)
  }

  private info(): SessionInfo {
    return Hooks.info(this.live)
  }

  // the next line as the client sent it, not a command (SASL answers): never traced
  private nextLine(): Effect.Effect<string | undefined, Reader.ReadFailure> {
    const reader = this.live.reader
    return Effect.suspend(function loop(): Effect.Effect<string | undefined, Reader.ReadFailure> {
      const frame = reader.bufferedCommand()
      if (frame === undefined) return Effect.flatMap(reader.fillAnswer(), loop)
      // a line that is not text cannot be base64: the mechanism refuses it
      return Effect.succeed(frame._tag === "Line" ? (Protocol.lineText(frame.bytes) ?? "\u0000") : undefined)
    })
  }

  // RFC 3207: the 220 goes out, plaintext the client pipelined after STARTTLS is dropped, and
  // the session starts over on the encrypted connection; a failed handshake ends it (false)
  private startTls(ready: Reply.Reply): Effect.Effect<boolean, Transport.TransportError> {
    return Effect.gen(() => this.startTlsSteps(ready))
  }

  private *startTlsSteps(ready: Reply.Reply) {
    const live = this.live
    const config = live.env.config
    const transport = live.transport
    if (transport.acceptTls === undefined) {
      live.send(Reply.notImplemented)
      return true
    }
    live.send(ready)
    yield* this.flush
    live.framer.reset()
    // the handshake is a request too: it has the command deadline (and the platform's own limit)
    const secured = yield* Effect.result(
      Effect.timeoutOrElse(transport.acceptTls(), {
        duration: config.commandDeadline,
        orElse: () => Effect.fail(new Transport.TransportError({ cause: new Error("TLS handshake timed out") }))
      })
    )
    if (Result.isFailure(secured)) {
      const cause = secured.failure.cause
      yield* Effect.logInfo(`TLS handshake failed: ${cause instanceof Error ? cause.message : String(cause)}`)
      return false
    }
    live.secured(secured.success)
    return true
  }

  private authenticate(mechanism: Sasl.Mechanism, initialResponse: string | undefined) {
    return Effect.gen(() => this.authenticateSteps(mechanism, initialResponse))
  }

  private *authenticateSteps(mechanism: Sasl.Mechanism, initialResponse: string | undefined) {
    const live = this.live
    const config = live.env.config
    const outcome = yield* Authentication.converse(
      live.env,
      { mechanism, initialResponse },
      { session: this.info(), send: (reply) => live.send(reply), answer: this.nextLine() }
    )
    switch (outcome._tag) {
      case "Authenticated":
        live.state = Session.authenticated(live.state, outcome.identity)
        return live.send(Reply.authSucceeded)
      case "Reply":
        return live.send(outcome.reply)
      case "Refused": {
        live.authFailures++
        // a pause before each verdict slows guessing down; then the door closes
        yield* this.pause(config.authFailureDelay)
        if (live.authFailures >= config.maxAuthFailures) {
          live.send(Reply.tooManyAuthFailures)
          return "close" as const
        }
        return live.send(Reply.authFailed)
      }
    }
  }

  // DATA, or the first BDAT: the handler reads the body while it comes; the reply once it ended
  private receive(
    decision: Extract<Protocol.Decision, { _tag: "Data" | "Bdat" }>
  ): Effect.Effect<void, Reader.ReadFailure | Transport.TransportError> {
    const live = this.live
    return Effect.suspend(() => {
      if (decision._tag === "Data") live.send(Reply.startData)
      return this.handled(live.startMessage(decision))
    })
  }

  // the handler reads the message as it comes (after what was kept of it inline, if anything)
  private handled(data: DataSection.DataSection): Effect.Effect<void, Reader.ReadFailure | Transport.TransportError> {
    return Effect.gen(() => this.handledSteps(data))
  }

  private *handledSteps(data: DataSection.DataSection) {
    const live = this.live
    const handle = live.hooks.data ?? MessageHandler.acceptAll
    // the client waits for 354 before it sends the body, whatever the handler does first
    yield* this.flush
    const message = data.message(live.env.config.decodeData)
    const outcome = yield* guarded(this.traced("data", handle(this.info(), message)))
    data.answer(yield* data.finish(), outcome, live.env)
  }

  private userCommand(verb: string, argument: string): Effect.Effect<Result.Result<Reply.Reply, Reply.Reply>> {
    const command = this.live.env.config.commands[verb]
    return command === undefined
      ? Effect.succeed(Result.fail(Reply.unknownCommand))
      : guarded(this.traced("command", command(this.info(), argument)))
  }

  // the handler's per-transaction resources go when the transaction does
  private endTransaction(): Effect.Effect<void> {
    const reset = this.live.hooks.reset
    return reset === undefined ? Effect.void : guarded(this.traced("reset", reset(this.info()))).pipe(Effect.asVoid)
  }

  private failed(error: Reader.ReadFailure | Transport.TransportError): Effect.Effect<void> {
    if (error._tag !== "ReadFailure") return Effect.logDebug("write failed", error)
    if (error.reason === "timeout") this.live.send(Reply.idleTimeout)
    if (error.reason === "deadline") this.live.send(CommandDeadline.reply)
    // never read the rest of a slow DATA as commands: say why and close
    if (error.reason === "slow") this.live.send(Reply.dataTimeout)
    return this.lastFlush()
  }

  private lastFlush(): Effect.Effect<void> {
    return Effect.catch(this.flush, (error) => Effect.logDebug("write failed", error))
  }

  // shutdown past the grace period: tell the client, briefly, then close
  private shutdownNotice(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.live.send(Reply.shuttingDown)
      return this.flush
    }).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore)
  }

  private finalize(exit: Exit.Exit<void>): Effect.Effect<void> {
    const live = this.live
    return Effect.suspend(() => {
      live.ended = true
      const interrupted = Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
      return (interrupted ? this.shutdownNotice() : Effect.void).pipe(
        Effect.andThen(Effect.suspend(() => (live.state.envelope === undefined ? Effect.void : this.endTransaction()))),
        // the per-session hooks' resources go before the connection does
        Effect.ensuring(Effect.suspend(() => (this.scope === undefined ? Effect.void : Scope.close(this.scope, exit)))),
        // the transport of the moment: after STARTTLS it is the encrypted one
        Effect.ensuring(Effect.suspend(() => live.transport.close)),
        Effect.ensuring(Effect.sync(() => live.finish()))
      )
    })
  }
}
