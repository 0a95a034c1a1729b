/**
 * One SMTP session over one transport: its state, and the steps of the fold through
 * `Protocol.step` that need no effect. Those are answered inline, in the transport's callback,
 * while the session is parked (it has no fiber) or while its fiber waits for a command. The
 * first step that needs an effect (a hook, STARTTLS, AUTH, …) wakes the session: its fiber
 * (`SessionLoop`, which `Connection.start` hands it) serves the rest. Replies are batched until
 * the next read that may wait. The states (parked, inline, forked, ended) and who holds what:
 * docs/sessions.md.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Fiber from "effect/Fiber"
import * as MessageHandler from "../handler/MessageHandler.js"
import * as Framer from "../protocol/Framer.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import * as Session from "../protocol/Session.js"
import * as DataSection from "./DataSection.js"
import type { Environment, Handle } from "./Environment.js"
import { accepted } from "./Guarded.js"
import * as HookFiber from "./HookFiber.js"
import * as Hooks from "./Hooks.js"
import * as Pipelining from "../protocol/Pipelining.js"
import * as Reader from "./Reader.js"
import { answered, outOfTurn, type QuickStep } from "./QuickStep.js"
import * as Trace from "./Trace.js"
import type * as Transport from "./Transport.js"

/** The most of a message kept before its handler is called (`DataSection.keep`); more streams. */
const keptAtMost = 64 * 1024

/**
 * The session's fiber, given the session (`SessionLoop.run`): with `serveCommands` false it
 * only writes what is pending and ends.
 *
 * @since 0.1.0
 * @category models
 */
export type Loop = (live: Live, serveCommands: boolean) => Effect.Effect<void>

/**
 * A session's state, shared by its inline steps (here) and its fiber (`SessionLoop`): one object
 * per connection with its steps as methods, so that a parked session holds little more than
 * its fields. The fiber changes it through the methods below.
 *
 * @since 0.1.0
 * @category models
 */
export class Live implements Handle, Reader.Session, DataSection.Host {
  /** STARTTLS replaces the transport (and the reader on it) in the middle of the session. */
  transport: Transport.Transport
  reader: Reader.Reader
  private current: Session.SessionState
  /** Replies not yet written. */
  pending = ""
  authFailures = 0
  /** A message whose body nobody reads (the handler accepts all): drained as it comes. */
  draining: DataSection.DataSection | undefined = undefined
  /** A message kept as it comes, for its handler to be called once it is all in (`HookFiber`). */
  collecting: DataSection.DataSection | undefined = undefined
  /** A hook running in its own fiber while the session has none. */
  readonly inFlight = new HookFiber.InFlight(this)
  ended = false
  closing = false // a 421 was sent: the session ends once it is written
  /** The handler's hooks for this session (`acceptAll` taken for absent); `opened` sets a session's own. */
  hooks: MessageHandler.Hooks
  private forked: Fiber.Fiber<void> | undefined = undefined
  /** The session's fiber runs: from its fork (before `forked` is known: it starts at once) until it parks the session again. */
  private serving = false
  private parks = 0 // times the session parked again after a fiber
  readonly framer: Framer.Framer

  constructor(
    transport: Transport.Transport,
    readonly env: Environment,
    private readonly loop: Loop
  ) {
    const config = env.config
    this.framer = Framer.make({
      maxLineLength: config.maxLineLength,
      maxMessageSize: config.protocol.maxMessageSize,
      bareLineEndings: config.bareLineEndings
    })
    this.transport = transport
    this.current = transport.secure ? Session.secured() : Session.initial
    this.hooks = MessageHandler.hooksOf(env.handler)
    this.reader = this.readerOn(transport)
  }

  /** The fold's state; a transaction's start and end are traced, when the server traces. */
  get state(): Session.SessionState {
    return this.current
  }

  set state(next: Session.SessionState) {
    this.env.spans?.transition(this.current, next)
    this.current = next
  }

  /** The session has ended and its transport is closed: its spans end, then the server's `onEnd`. */
  finish(): void {
    this.env.spans?.end(this.current, this.transport.secure, this.transport.tls?.protocol)
    this.env.onEnd?.()
  }

  send(reply: Reply.Reply): void {
    // a 421 closes the channel (RFC 5321 §3.8), whoever gave it: a hook's ends the session too
    if (reply.code === 421) this.closing = true
    this.pending += Reply.encode(reply, Session.isEsmtp(this.state))
  }

  /** Writes the pending replies; `undefined` when there are none. */
  takeFlush(): Effect.Effect<void, Transport.TransportError> | undefined {
    if (this.pending === "") return undefined
    const out = this.pending
    this.pending = ""
    return Trace.write(this.transport, out, this.env.config.trace)
  }

  /** Writes the pending replies at once, if the transport can take them without waiting. */
  writeNow(): boolean {
    if (this.pending === "") return true
    if (this.transport.writeNow?.(this.pending) !== true) return false
    this.pending = ""
    return true
  }

  readerOn(on: Transport.Transport): Reader.Reader {
    const config = this.env.config
    // traces are logged (an effect); a handler's reset hook is an effect after each transaction
    const actsInline = !config.trace && this.hooks.reset === undefined && on.writeNow !== undefined
    return new Reader.Reader(this, on, config, actsInline)
  }

  /** The session's own hooks (its handler's `session` made them): served from now on, before any read. */
  opened(hooks: MessageHandler.Hooks): void {
    this.hooks = hooks
    this.reader = this.readerOn(this.transport)
  }

  protocolConfig(): Protocol.Config {
    return this.env.config.protocol
  }

  nextCommand(): Reader.CommandFrame | undefined {
    return this.reader.bufferedCommand()
  }

  unread(frame: Reader.CommandFrame): void {
    this.reader.unread(frame)
  }

  fillData(): Effect.Effect<void, Reader.ReadFailure> {
    return this.reader.fillData()
  }

  fillLine(): Effect.Effect<void, Reader.ReadFailure> {
    return this.reader.fillAnswer()
  }

  /** DATA (354 sent) or the first BDAT: the message's content follows. */
  startMessage(decision: Extract<Protocol.Decision, { _tag: "Data" | "Bdat" }>): DataSection.DataSection {
    if (decision._tag === "Data") {
      this.reader.startData()
      return new DataSection.DataSection(this, decision.envelope, undefined)
    }
    this.reader.startChunk(decision.size, decision.first)
    return new DataSection.DataSection(this, decision.envelope, { last: decision.last, size: decision.size })
  }

  /** The time on the server's clock, in milliseconds (the DATA rate is measured with it). */
  now(): number {
    return this.env.clock.currentTimeMillisUnsafe()
  }

  /** STARTTLS succeeded: the session goes on over the encrypted transport. */
  secured(transport: Transport.Transport): void {
    this.transport = transport
    this.reader = this.readerOn(transport)
    this.state = Session.secured(this.state)
  }

  /** A hook's verdict on MAIL or RCPT: accepted (the decision's state is taken), or its reply. */
  hookAnswered(
    state: Session.SessionState,
    ok: Reply.Reply,
    outcome: Result.Result<void | Reply.Reply, Reply.Reply>
  ): void {
    if (Result.isFailure(outcome)) return this.send(outcome.failure)
    this.state = state
    this.send(ok)
  }

  // MAIL or RCPT with no hook to ask
  private acceptNow(state: Session.SessionState, ok: Reply.Reply): QuickStep {
    this.state = state
    this.send(ok)
    return answered
  }

  /** A refused AUTH: what the client sent behind it would be its answers (credentials), sent out
   * of turn; they are dropped unread rather than taken, and traced, as commands. */
  dropAnswersOfRefusedAuth(frame: Reader.CommandFrame): void {
    if (this.framer.buffered > 0 && Pipelining.isAuth(frame)) this.framer.reset()
  }

  /**
   * The steps of the fold that need no effect, answered here, whether in the session's loop or
   * inline. Anything else is returned, its state not yet taken, for the loop's effects. While
   * the session has no fiber (`parked`), MAIL and RCPT hooks and a DATA's are called in fibers
   * of their own (`HookFiber`).
   */
  quick(frame: Reader.CommandFrame, parked = false): QuickStep {
    const { config } = this.env
    const hooks = this.hooks
    if (config.forbidUnauthPipelining && this.framer.buffered > 0 && Pipelining.isViolation(this.state, frame)) {
      return outOfTurn
    }
    const decision = Protocol.step(config.protocol, this.state, frame)
    switch (decision._tag) {
      case "Reply":
        if (decision.slow === true) return decision
        if (hooks.helo !== undefined && Hooks.greeting(this.state, decision) !== undefined) return decision
        this.state = decision.state
        this.dropAnswersOfRefusedAuth(frame)
        if (decision.discard !== undefined) this.framer.discard(decision.discard)
        this.send(decision.reply)
        return answered
      case "Mail": {
        if (hooks.mail === undefined) return this.acceptNow(decision.accepted, Reply.senderOk)
        if (!parked) return decision
        this.inFlight.launch("mail", hooks.mail(Hooks.info(this), decision.from, decision.parameters), (outcome) =>
          this.hookAnswered(decision.accepted, Reply.senderOk, outcome)
        )
        return answered
      }
      case "Rcpt": {
        if (hooks.rcpt === undefined) return this.acceptNow(decision.accepted, Reply.recipientOk)
        if (!parked) return decision
        this.inFlight.launch("rcpt", hooks.rcpt(Hooks.info(this), decision.recipient), (outcome) =>
          this.hookAnswered(decision.accepted, Reply.recipientOk, outcome)
        )
        return answered
      }
      case "Data":
      case "Bdat":
        if (hooks.data !== undefined) {
          // a DATA is kept as it comes, the handler called once it is in; BDAT goes to the fiber
          if (!parked || decision._tag !== "Data") return decision
          this.state = decision.state
          this.send(Reply.startData)
          this.collecting = this.startMessage(decision)
          return answered
        }
        this.state = decision.state
        // the 354 goes out before the next read of the body (the reader flushes)
        if (decision._tag === "Data") this.send(Reply.startData)
        this.draining = this.startMessage(decision)
        return answered
      default:
        return decision
    }
  }

  /**
   * The fold in the transport's callback, while the session is parked or its fiber waits for a
   * command: true when all input was answered (replies written); false leaves the rest to the
   * session's fiber.
   */
  inline(): boolean {
    // a read left waiting when the session ended (reads need no canceler): nothing more is done
    if (this.ended) return false
    const parked = !this.serving
    while (true) {
      // (a 421 a hook gave closes the session: its fiber does)
      if (this.inFlight.busy || this.closing) return false
      if (this.collecting !== undefined) {
        const section = this.collecting
        const end = section.keep(keptAtMost)
        if (end === undefined) return this.writeNow()
        // a message too big to keep goes to the session's fiber, its handler reading the rest
        if (end === "full") return false
        this.collecting = undefined
        // what the client waits for is written before the handler runs (as the session's fiber does)
        this.writeNow()
        const message = section.message(this.env.config.decodeData)
        this.inFlight.launch("data", this.hooks.data!(Hooks.info(this), message), (outcome) =>
          section.answer(end, outcome, this.env)
        )
        continue
      }
      if (this.draining !== undefined) {
        const section = this.draining
        const end = section.drain()
        if (end === undefined) return this.writeNow()
        this.draining = undefined
        section.answer(end, accepted, this.env)
      }
      if (this.env.isShuttingDown()) return false
      const frame = this.reader.bufferedCommand()
      if (frame === undefined) return this.writeNow()
      const step = this.quick(frame, parked)
      if (step === answered) continue
      if (parked && step._tag === "Close" && this.quit(step.reply)) return true
      this.reader.unread(frame)
      return false
    }
  }

  /** A hook that waited has its answer: what came meanwhile is acted on, then the session parks again or forks. */
  goOn(): void {
    const handled = this.inline()
    if (this.ended || this.inFlight.busy) return
    if (!handled || this.framer.buffered > 0 || !this.reader.park()) this.fork()
  }

  /** QUIT to a parked session: the 221 and the lingering close, with no fiber. */
  private quit(reply: Reply.Reply): boolean {
    const park = this.transport.park
    if (park === undefined) return false
    const before = this.pending
    this.send(reply)
    if (!this.writeNow()) {
      this.pending = before
      return false
    }
    this.ended = true
    park.end(() => this.finish())
    return true
  }

  /**
   * Parks the session again, its replies written: its fiber is to end (its next fiber is forked
   * by the next command that needs one). False: it cannot park (a trace, a reset hook, replies
   * that must wait, a line begun, shutdown), its fiber goes on.
   */
  parkAgain(): boolean {
    // (a line begun stays with the fiber: its read runs to the line's deadline, not the idle timeout)
    if (this.ended || this.env.config.trace || this.env.isShuttingDown() || this.framer.buffered > 0) return false
    if (this.transport.park === undefined || !this.writeNow()) return false
    const forked = this.forked
    this.forked = undefined
    this.serving = false
    if (this.reader.park()) {
      this.parks++
      return true
    }
    this.forked = forked
    this.serving = true
    return false
  }

  /** The park ended: the session's fiber is forked, unless a hook's landing goes on without it. */
  wake(): void {
    if (!this.inFlight.busy) this.fork()
  }

  /** Forks the session's fiber, unless it has one. */
  private fork(): void {
    if (this.serving) return
    this.serving = true
    const parks = this.parks
    const fiber = this.env.fork(this.loop(this, true))
    // a fiber that parked the session again before its fork returned (it ran to its end at once)
    // is not the session's
    if (this.parks === parks) this.forked = fiber
  }

  fiber(): Fiber.Fiber<void> | undefined {
    if (!this.serving && !this.ended) {
      this.transport.park?.stop()
      this.fork()
    }
    return this.forked
  }

  isIdle(): boolean {
    // a message drained inline between its BDAT chunks waits for a command, but is not idle
    return !this.ended && this.draining === undefined && this.reader.waitingForCommand()
  }

  /** Ends the session at once, in its fiber, with what is pending (an early talker's refusal). */
  hangUp(): void {
    this.serving = true
    this.forked = this.env.fork(this.loop(this, false))
  }
}
