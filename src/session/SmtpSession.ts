/**
 * A whole SMTP conversation over any byte stream, held as the server holds it over a socket:
 * `run(input, options)` is the stream of reply bytes. It is what `effect-smtpd --stdio` runs,
 * what a transport a user holds as a stream (a WebSocket, a test) can serve, and the reference
 * the server's fast engine is checked against (docs/sessions.md).
 *
 * ```
 * input bytes ─▶ Framer (its mode follows the state) ─▶ command frames
 *   ─▶ Protocol.step (Schema-decoded command, typed state) ─▶ Decision
 *   ─▶ carried out: the MessageHandler's hooks, AUTH, DATA (the body as a stream) ─▶ replies
 *   ─▶ batched until the next read (RFC 2920 §3.2) ─▶ output bytes
 * ```
 *
 * STARTTLS needs a socket to upgrade: over a byte stream it is not offered, as on a server
 * without a certificate. A client that talks before the greeting cannot be told from one that
 * does not (a stream cannot be asked whether input is waiting); pipelining out of turn can.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Authentication from "../internal/Authentication.js"
import * as CommandDeadline from "../internal/CommandDeadline.js"
import { accepted, guarded } from "../internal/Guarded.js"
import * as Hooks from "../internal/Hooks.js"
import * as Pipelining from "../protocol/Pipelining.js"
import * as Trace from "../internal/Trace.js"
import { formatEndpoint } from "../protocol/Endpoint.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import type * as Sasl from "../protocol/Sasl.js"
import * as Session from "../protocol/Session.js"
import * as Metrics from "../server/Metrics.js"
import type * as ServerConfig from "../server/ServerConfig.js"
import * as DataSection from "../internal/DataSection.js"
import type * as Verdicts from "../handler/Verdicts.js"
import * as Environment from "./Environment.js"
import * as Wire from "./Wire.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = Environment.Options

/**
 * Serves one SMTP session on `input`, with the `MessageHandler` (and the `Authenticator`, if
 * there is one) from the context: the greeting, then a reply for every command, until QUIT,
 * the end of the input, a limit or the idle timeout. Replies are written once the input
 * buffered so far has been answered. The stream fails with the input's error after the
 * session's last replies, and with `ConfigError` for options that do not fit together.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <E = never, R = never>(
  input: Stream.Stream<Uint8Array, E, R>,
  options: Options = {}
): Stream.Stream<Uint8Array, E | ServerConfig.ConfigError, R | MessageHandler.MessageHandler> =>
  Stream.callback<Uint8Array, E | ServerConfig.ConfigError, R | MessageHandler.MessageHandler>(
    (out) => Effect.gen(() => session(input, options, out)),
    // replies wait for a slow reader, as they would for a full socket
    { bufferSize: 16 }
  )

// a session over `input`, its replies into `out` (a generator function of the module's, not one
// made per call: V8 keeps those in the old generation with all they capture,
// docs/performance/gc.md)
function* session<E, R>(
  input: Stream.Stream<Uint8Array, E, R>,
  options: Options,
  out: Queue.Queue<Uint8Array, E | ServerConfig.ConfigError | Cause.Done>
) {
  const env = yield* Environment.make(options)
  const write = (bytes: Uint8Array) => Effect.asVoid(Queue.offer(out, bytes))
  const wire = new Wire.Wire(yield* Stream.toPull(input), write, env.config)
  yield* Metric.update(Metrics.connectionsTotal, 1)
  yield* Effect.acquireUseRelease(
    Metric.modify(Metrics.connectionsActive, 1),
    () => new Conversation(env, wire).run(),
    () => Metric.modify(Metrics.connectionsActive, -1)
  )
  if (wire.inputError !== undefined) return yield* Effect.fail(wire.inputError.error)
  yield* Queue.end(out)
}

// One session: the fold's state, each command frame folded into it through `Protocol.step` and
// its decision carried out, until a decision (or the input) ends the session.
class Conversation<E> implements DataSection.Host {
  state: Session.SessionState
  private authFailures = 0
  /** The handler's hooks for this session; its `session` makes them, in `scope`. */
  private hooks: MessageHandler.Hooks
  /** A 421 was sent: the session ends once it is written. */
  private closing = false
  private readonly scope = Scope.makeUnsafe()

  constructor(
    private readonly env: Environment.Environment,
    private readonly wire: Wire.Wire<E>
  ) {
    this.state = env.secure ? Session.secured() : Session.initial
    this.hooks = MessageHandler.hooksOf(env.handler)
  }

  run(): Effect.Effect<void> {
    return Effect.gen({ self: this }, this.runSteps).pipe(
      Effect.catchTag("ReadFailure", (failure) =>
        Effect.sync(() => {
          if (failure.reason === "timeout") this.send(Reply.idleTimeout)
          if (failure.reason === "deadline") this.send(CommandDeadline.reply)
          // never read the rest of a slow DATA as commands: say why and close
          if (failure.reason === "slow") this.send(Reply.dataTimeout)
        })
      ),
      Effect.andThen(this.wire.flush),
      // however the session ends, even interrupted
      Effect.ensuring(Effect.suspend(() => (this.state.envelope === undefined ? Effect.void : this.tidy()))),
      // the per-session hooks' resources go with the session
      Effect.onExit((exit) => Scope.close(this.scope, exit)),
      Effect.annotateLogs({ session: this.env.id, peer: formatEndpoint(this.env.peer) })
    )
  }

  private *runSteps() {
    const { config } = this.env
    if (!(yield* this.open())) return
    this.send(Protocol.greeting(config.protocol))
    let goOn = true
    while (goOn) goOn = yield* this.serve(yield* this.wire.command)
  }

  // the handler's `session` and `connect` hook, before the greeting: false when they refuse
  private open(): Effect.Effect<boolean> {
    if (!Hooks.opens(this.env.handler)) return Effect.succeed(true)
    return Effect.map(Hooks.open(this.env.handler, this.info(), this.scope), (opened) => {
      if (Result.isFailure(opened)) this.send(opened.failure)
      else this.hooks = opened.success
      return Result.isSuccess(opened)
    })
  }

  // one command: false when it ends the session
  private serve(frame: Wire.CommandFrame): Effect.Effect<boolean, Wire.ReadFailure> {
    return Effect.gen(() => this.serveSteps(frame))
  }

  private *serveSteps(frame: Wire.CommandFrame) {
    const config = this.env.config
    if (config.trace) yield* Effect.logDebug(`<<< ${Trace.commandLine(frame)}`)
    // commands sent ahead out of turn (RFC 2920 §3.1; Postfix's smtpd_forbid_unauth_pipelining)
    if (config.forbidUnauthPipelining && this.wire.hasMore() && Pipelining.isViolation(this.state, frame)) {
      this.send(Reply.protocolViolation)
      return false
    }
    const before = this.state
    const decision = Protocol.step(config.protocol, before, frame)
    this.state = decision.state
    if (!(yield* this.carryOut(decision, frame, Hooks.greeting(before, decision)))) return false
    if (before.envelope !== undefined && this.state.envelope === undefined && this.hooks.reset !== undefined) {
      // the client has its reply before the handler tidies up (a relay says QUIT upstream)
      yield* this.wire.flush
      yield* this.tidy()
    }
    return !this.closing
  }

  private carryOut(
    decision: Protocol.Decision,
    frame: Wire.CommandFrame,
    greeting: Session.Greeting | undefined
  ): Effect.Effect<boolean, Wire.ReadFailure> {
    return Effect.gen(() => this.carryOutSteps(decision, frame, greeting))
  }

  private *carryOutSteps(
    decision: Protocol.Decision,
    frame: Wire.CommandFrame,
    greeting: Session.Greeting | undefined
  ) {
    const { config } = this.env
    const { mail, rcpt } = this.hooks
    switch (decision._tag) {
      case "Reply":
        // a refused AUTH: what the client sent behind it would be its answers, sent out of turn
        if (this.wire.hasMore() && Pipelining.isAuth(frame)) this.wire.discard()
        // a refused BDAT's chunk is dropped unread
        if (decision.discard !== undefined) this.framer.discard(decision.discard)
        if (decision.slow === true) {
          // past the soft error limit every error waits (Postfix's smtpd_error_sleep_time)
          yield* this.wire.flush
          yield* Effect.sleep(config.errorDelay)
        }
        yield* this.greet(greeting, decision.reply)
        return true
      case "Close":
        this.send(decision.reply)
        return false
      case "StartTls": // not offered, so not decided: as a server without a certificate
        this.send(Reply.notImplemented)
        return true
      case "Auth":
        return yield* this.authenticate(decision.mechanism as Sasl.Mechanism, decision.initialResponse)
      case "Mail": {
        const outcome =
          mail === undefined ? accepted : yield* guarded(mail(this.info(), decision.from, decision.parameters))
        if (Result.isSuccess(outcome)) this.state = decision.accepted
        this.send(Result.isSuccess(outcome) ? Reply.senderOk : outcome.failure)
        return true
      }
      case "Rcpt": {
        const outcome = rcpt === undefined ? accepted : yield* guarded(rcpt(this.info(), decision.recipient))
        if (Result.isSuccess(outcome)) this.state = decision.accepted
        this.send(Result.isSuccess(outcome) ? Reply.recipientOk : outcome.failure)
        return true
      }
      case "Data":
      case "Bdat":
        yield* this.receive(decision)
        return true
      case "User": {
        const command = config.commands[decision.verb]
        const outcome =
          command === undefined
            ? Result.fail(Reply.unknownCommand)
            : yield* guarded(command(this.info(), decision.argument))
        this.send(Result.merge(outcome))
        return true
      }
    }
  }

  // HELO/EHLO to the `helo` hook, whose refusal leaves the session without a greeting
  private greet(greeting: Session.Greeting | undefined, reply: Reply.Reply): Effect.Effect<void> {
    const helo = this.hooks.helo
    if (greeting === undefined || helo === undefined) return Effect.sync(() => this.send(reply))
    return Effect.map(guarded(helo(this.info(), greeting)), (outcome) => {
      if (Result.isSuccess(outcome)) return this.send(reply)
      this.state = Hooks.refusedGreeting(this.state)
      this.send(outcome.failure)
    })
  }

  // the SASL exchange (RFC 4954): false when too many failures end the session
  private authenticate(mechanism: Sasl.Mechanism, initialResponse: string | undefined) {
    return Effect.gen(() => this.authenticateSteps(mechanism, initialResponse))
  }

  private *authenticateSteps(mechanism: Sasl.Mechanism, initialResponse: string | undefined) {
    const config = this.env.config
    // (AUTH is offered only with an Authenticator: Protocol.step refuses it without one)
    const outcome = yield* Authentication.converse(
      this.env,
      { mechanism, initialResponse },
      { session: this.info(), send: (reply) => this.send(reply), answer: this.wire.answer }
    )
    switch (outcome._tag) {
      case "Authenticated":
        this.state = Session.authenticated(this.state, outcome.identity)
        this.send(Reply.authSucceeded)
        return true
      case "Reply":
        this.send(outcome.reply)
        return true
      case "Refused":
        this.authFailures++
        // a pause before each verdict slows guessing down; then the door closes
        yield* this.wire.flush
        yield* Effect.sleep(config.authFailureDelay)
        this.send(this.authFailures >= config.maxAuthFailures ? Reply.tooManyAuthFailures : Reply.authFailed)
        return this.authFailures < config.maxAuthFailures
    }
  }

  // DATA (354) or the first BDAT: the body to the handler as a stream, the rest drained, the verdict
  private receive(decision: Extract<Protocol.Decision, { _tag: "Data" | "Bdat" }>) {
    return Effect.gen(() => this.receiveSteps(decision))
  }

  private *receiveSteps(decision: Extract<Protocol.Decision, { _tag: "Data" | "Bdat" }>) {
    const config = this.env.config
    const handle = this.hooks.data ?? MessageHandler.acceptAll
    let data: DataSection.DataSection
    if (decision._tag === "Data") {
      this.send(Reply.startData)
      this.wire.startData()
      data = new DataSection.DataSection(this, decision.envelope, undefined)
    } else {
      this.wire.startChunk(decision.size, decision.first)
      data = new DataSection.DataSection(this, decision.envelope, { last: decision.last, size: decision.size })
    }
    // the client waits for 354 before it sends the body, whatever the handler does first
    yield* this.wire.flush
    const message = data.message(config.decodeData)
    const outcome = yield* guarded(handle(this.info(), message))
    yield* this.received(data, yield* data.finish(), outcome)
  }

  // the end of a message: its reply (over LMTP one per recipient), none if it was abandoned
  private received(
    data: DataSection.DataSection,
    end: DataSection.DataEnd,
    outcome: Result.Result<void | Reply.Reply | Verdicts.PerRecipient, Reply.Reply>
  ): Effect.Effect<void> {
    data.release()
    if (end.abandoned) return Effect.void
    this.state = Session.reset(this.state)
    const protocol = this.env.config.protocol
    const verdict = DataSection.replies(end, outcome, data.envelope.recipients.length, protocol.lmtp)
    if (verdict.replies instanceof Reply.Reply) this.send(verdict.replies)
    else for (const reply of verdict.replies) this.send(reply)
    return verdict.accepted
      ? Effect.andThen(Metric.update(Metrics.messagesAccepted, 1), Metric.update(Metrics.messageSize, end.size))
      : Metric.update(Metrics.messagesRejected, 1)
  }

  // DataSection.Host: what a message's content needs of the session
  get framer() {
    return this.wire.framer
  }

  send(reply: Reply.Reply): void {
    // a 421 closes the channel (RFC 5321 §3.8), whoever gave it: a hook's ends the session too
    if (reply.code === 421) this.closing = true
    this.wire.send(reply, Session.isEsmtp(this.state))
  }

  protocolConfig(): Protocol.Config {
    return this.env.config.protocol
  }

  nextCommand(): Wire.CommandFrame | undefined {
    return this.wire.bufferedCommand()
  }

  unread(frame: Wire.CommandFrame): void {
    this.wire.unread(frame)
  }

  fillData() {
    return this.wire.fillData
  }

  fillLine() {
    return this.wire.fillLine
  }

  // the handler's per-transaction resources go when the transaction does
  private tidy(): Effect.Effect<void> {
    const reset = this.hooks.reset
    return reset === undefined ? Effect.void : Effect.asVoid(guarded(reset(this.info())))
  }

  private info(): SessionInfo {
    const { env, state } = this
    return {
      id: env.id,
      peer: env.peer,
      local: env.local,
      hostname: env.config.protocol.hostname,
      greeting: state.greeting,
      envelope: state.envelope,
      secure: env.secure,
      tls: env.tls,
      auth: state.auth,
      protocol: env.config.protocol.lmtp ? "lmtp" : "smtp"
    }
  }
}
