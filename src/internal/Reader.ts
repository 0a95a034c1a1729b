/**
 * The read side of a connection: pushes transport chunks into the framer as frames are
 * pulled, flushing pending replies before any read that may wait (RFC 2920 §3.2), with the
 * idle timeout on every read (DATA's minimum rate while the content of a message is read).
 * While the session waits for a command
 * it takes the chunks inline (`Transport.Inline`), parked or in its fiber's read: the states
 * and who holds what are in docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Framer from "../protocol/Framer.js"
import { CommandDeadline } from "./CommandDeadline.js"
import { DataRate } from "./DataRate.js"
import { ReadFailure } from "./ReadFailure.js"
import * as Transport from "./Transport.js"

export { ReadFailure } from "./ReadFailure.js"

/**
 * @since 0.1.0
 * @category models
 */
export type CommandFrame = Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>

/**
 * What a reader needs from its session (`Live`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly framer: Framer.Framer
  /** Writes the replies pending, if any (`undefined` when there are none). */
  readonly takeFlush: () => Effect.Effect<void, Transport.TransportError> | undefined
  /**
   * Acts on the input buffered so far without effects, while a command read waits (see
   * `Transport.Inline`): true when it handled all of it and wrote its replies.
   */
  readonly inline: () => boolean
  /** The time in milliseconds (the session's Clock, so that TestClock moves it). */
  readonly now: () => number
  /** Forks the session's fiber: its park ended. */
  readonly wake: () => void
}

/**
 * The reader's limits (the server's config has them).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly idleTimeout: Duration.Input
  /** Longest a command line or SASL answer may take from its first byte (default 60 seconds). */
  readonly commandDeadline?: Duration.Input | undefined
  /** Slowest DATA in bytes per second once `dataRateGrace` has passed; 0 = none. */
  readonly minDataRate?: number | undefined
  readonly dataRateGrace?: Duration.Input | undefined
}

type Mode = "command" | "answer" | "data"
type Read = Effect.Effect<
  Uint8Array | Transport.TakenInline | undefined,
  Transport.TransportError | Transport.ReadTimeout
>

// The fiber's reads: built together on its first read (a parked session never needs them), then
// reused for every read, so that a read costs no new effect
class Fills {
  constructor(
    readonly command: Effect.Effect<void, ReadFailure>,
    readonly answer: Effect.Effect<void, ReadFailure>,
    readonly data: Effect.Effect<void, ReadFailure>
  ) {}
}

/**
 * @since 0.1.0
 * @category models
 */
export class Reader implements Transport.Parked {
  /** Once set, every later read fails the same way at once. */
  private failure: ReadFailure | undefined = undefined
  /** Is a command read (or a park) waiting for the client? */
  private waiting = false
  /** What the next read is for: a command, a SASL answer, or a body (read at DATA's minimum rate). */
  private mode: Mode = "command"
  /** A frame the session put back: the next `bufferedCommand` returns it. */
  private putBack: CommandFrame | undefined = undefined
  private readonly framer: Framer.Framer
  private readonly idle: Duration.Duration
  private readonly idleMs: number
  /** DATA's minimum rate, for the content of a message. */
  private readonly rate: DataRate
  /** The deadline of the command line or SASL answer being read. */
  private readonly deadline: CommandDeadline
  /** After `take` handled a chunk: how long to wait for the next. */
  private nextWaitMs = 0
  private fills: Fills | undefined = undefined
  /** The transport's reads at the idle timeout, made on first use: a session may need only one. */
  private plainRead: Read | undefined = undefined
  private inlineRead: Read | undefined = undefined

  /** `actsInline`: the session takes chunks inline, parked or while its fiber waits for a command. */
  constructor(
    private readonly session: Session,
    private readonly transport: Transport.Transport,
    options: Options,
    private readonly actsInline: boolean
  ) {
    this.framer = session.framer
    this.idle = Duration.fromInputUnsafe(options.idleTimeout)
    this.idleMs = Duration.toMillis(this.idle)
    const graceMs = Duration.toMillis(Duration.fromInputUnsafe(options.dataRateGrace ?? "30 seconds"))
    this.rate = new DataRate(options.minDataRate ?? 0, graceMs, this.idleMs)
    const deadline = Duration.fromInputUnsafe(options.commandDeadline ?? "60 seconds")
    this.deadline = new CommandDeadline(Duration.toMillis(deadline), this.idleMs)
  }

  /** The next command frame already buffered, if any (no I/O). */
  bufferedCommand(): CommandFrame | undefined {
    const frame = this.putBack
    if (frame !== undefined) {
      this.putBack = undefined
      return frame
    }
    // the session only asks for commands while the framer is in command mode
    const pulled = this.framer.pull() as CommandFrame | undefined
    if (pulled !== undefined) this.deadline.lineTaken()
    return pulled
  }

  /** Puts a frame back: the next `bufferedCommand` returns it (one that inline handling left). */
  unread(frame: CommandFrame): void {
    this.putBack = frame
  }

  /** Flushes pending replies, then waits for more input (acted on inline, if the session can). */
  fillCommand(): Effect.Effect<void, ReadFailure> {
    return this.fillsOf().command
  }

  /** `fillCommand` for a line that is not a command (a SASL answer): never acted on inline. */
  fillAnswer(): Effect.Effect<void, ReadFailure> {
    return this.fillsOf().answer
  }

  /** Switches the framer to DATA: what follows, up to `CRLF.CRLF`, is the message. */
  startData(): void {
    this.framer.startData()
    this.startContent()
  }

  /** A BDAT chunk of `size` octets follows; `first`: it begins the message. */
  startChunk(size: number, first: boolean): void {
    this.framer.startChunk(size, first)
    if (first) this.startContent()
    else this.deadline.lineTaken()
  }

  private startContent(): void {
    this.deadline.lineTaken()
    this.rate.begin()
  }

  /** `fillCommand` for the body of a DATA. */
  fillData(): Effect.Effect<void, ReadFailure> {
    return this.fillsOf().data
  }

  /**
   * Waits for the next command with no fiber (`Transport.Parking`), the input acted on inline;
   * the session's `wake` runs when it needs its fiber. False: it cannot (no inline handling,
   * no parking, or input already queued), the session reads in its fiber.
   */
  park(): boolean {
    const parking = this.transport.park
    if (!this.actsInline || parking === undefined || this.failure !== undefined) return false
    this.mode = "command"
    this.waiting = parking.start(this, this.idleMs)
    return this.waiting
  }

  /** Is the session waiting for the client's next command (and has no input to act on)? */
  waitingForCommand(): boolean {
    // a DATA begun inline waits in a command read: it is not idle
    return this.waiting && this.failure === undefined && this.framer.currentMode === "command"
  }

  /** A chunk that came while a command read (or the park) waits, acted on in the transport's callback. */
  take(chunk: Uint8Array): Transport.Taken {
    const command = this.framer.currentMode === "command"
    if (command) {
      this.deadline.pushed()
    } else {
      this.rate.add(chunk.length)
      // what follows the end of the DATA, if it is in this chunk, came now
      this.deadline.arrived()
    }
    this.framer.push(chunk)
    if (!this.session.inline()) {
      // the fiber goes on later: the chunk's time is now
      this.deadline.settle(this.session)
      return "NeedsFiber"
    }
    // all handled: waiting again, for a command (its deadline, if a line is open) or for the
    // body of a DATA begun inline
    if (this.framer.currentMode === "command") {
      const ms = this.deadline.waitMs(this.framer.buffered, this.session)
      if (ms === 0) return "NeedsFiber"
      this.nextWaitMs = ms
      return "Handled"
    }
    // behind the minimum rate: the session's fiber ends it
    const ms = this.rate.waitMs(this.session)
    if (ms === 0) return "NeedsFiber"
    this.nextWaitMs = ms
    return "Handled"
  }

  waitMs(): number {
    return this.nextWaitMs
  }

  /** The park ended. */
  wake(): void {
    this.waiting = false
    this.session.wake()
  }

  private broken(error: ReadFailure): Effect.Effect<never, ReadFailure> {
    this.failure = error
    return Effect.fail(error)
  }

  private fillsOf(): Fills {
    if (this.fills !== undefined) return this.fills
    // runs once per socket read: kept to a few plain steps (each step is runtime work)
    const readStep = Effect.matchEffect(
      Effect.suspend(() => this.nextRead()),
      { onFailure: (error) => this.readFailed(error), onSuccess: (chunk) => this.afterRead(chunk) }
    )
    const writeThenRead = {
      onFailure: () => this.broken(new ReadFailure({ reason: "error" })),
      onSuccess: () => readStep
    }
    const fill = (mode: Mode): Effect.Effect<void, ReadFailure> =>
      Effect.suspend(() => {
        if (this.failure !== undefined) return Effect.fail(this.failure)
        this.mode = mode
        const written = this.session.takeFlush()
        return written === undefined ? readStep : Effect.matchEffect(written, writeThenRead)
      })
    this.fills = new Fills(fill("command"), fill("answer"), fill("data"))
    return this.fills
  }

  private nextRead(): Read {
    this.waiting = this.mode === "command"
    if (this.mode === "data") return this.readData()
    // (a DATA begun inline waits in a command read: its rate is taken care of inline)
    if (this.framer.currentMode === "command") {
      const ms = this.deadline.waitMs(this.framer.buffered, this.session)
      if (ms === 0) return Effect.fail(new Transport.ReadTimeout())
      // an open line: a read of its own, to its deadline (its chunk comes back to the fiber)
      if (this.deadline.bound) return this.transport.read(Duration.millis(ms))
    }
    if (this.mode === "answer" || !this.actsInline || this.transport.readInline === undefined) return this.read()
    return (this.inlineRead ??= this.transport.readInline(this.idle, this))
  }

  private read(): Read {
    return (this.plainRead ??= this.transport.read(this.idle))
  }

  private readData(): Read {
    const ms = this.rate.waitMs(this.session)
    if (ms === 0) return Effect.fail(new Transport.ReadTimeout())
    return this.rate.bound ? this.transport.read(Duration.millis(ms)) : this.read()
  }

  private readFailed(error: Transport.TransportError | Transport.ReadTimeout): Effect.Effect<never, ReadFailure> {
    this.waiting = false
    if (error._tag !== "ReadTimeout") return this.broken(new ReadFailure({ reason: "error" }))
    if (this.framer.currentMode === "data")
      return this.broken(new ReadFailure({ reason: this.rate.bound ? "slow" : "timeout" }))
    return this.broken(new ReadFailure({ reason: this.deadline.bound ? "deadline" : "timeout" }))
  }

  private afterRead(chunk: Uint8Array | Transport.TakenInline | undefined): Effect.Effect<void, ReadFailure> {
    this.waiting = false
    if (chunk === undefined) return this.broken(new ReadFailure({ reason: "closed" }))
    // the chunk went to `take`: it is in the framer already
    if (chunk instanceof Transport.TakenInline) return Effect.void
    if (this.mode === "data") this.rate.add(chunk.length)
    if (this.framer.currentMode === "command") this.deadline.pushed(this.session.now())
    else this.deadline.arrived(this.session.now())
    this.framer.push(chunk)
    return Effect.void
  }
}
