/**
 * The read side of a connection: pushes transport chunks into the framer as frames are
 * pulled, flushing pending replies before any read that may wait (RFC 2920 §3.2), with the
 * idle timeout on every read. It also hands DATA to the handler as a stream pulled straight
 * from the socket, and drains what the handler leaves. While the session waits for a command
 * it takes the chunks inline (`Transport.Inline`), parked or in its fiber's read: the states
 * and who holds what are in docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Message from "../handler/Message.js"
import type * as Framer from "../protocol/Framer.js"
import * as SmtpError from "../protocol/SmtpError.js"
import { CommandDeadline } from "./CommandDeadline.js"
import * as Transport from "./Transport.js"

/**
 * Why a connection can no longer be read. The client gets `421 4.4.2` for a timeout (idle, a
 * line not complete within `commandDeadline`, or a DATA slower than `minDataRate`) and nothing
 * when it is gone.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReadFailure extends Data.TaggedError("ReadFailure")<{
  /** `slow`: DATA came in under the minimum rate; `deadline`: a line took longer than `commandDeadline`. */
  readonly reason: "closed" | "timeout" | "deadline" | "slow" | "error"
}> {}

/**
 * @since 0.1.0
 * @category models
 */
export type CommandFrame = Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>

/**
 * The outcome of a DATA section once it has been read to its end.
 *
 * @since 0.1.0
 * @category models
 */
export class DataEnd {
  constructor(
    readonly size: number,
    readonly aborted: Framer.AbortReason | undefined
  ) {}
}

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
  // DATA's minimum rate (Postfix's smtpd_min_data_rate): after the grace period the client must
  // have sent `minRate` bytes for every second; each read may wait only until it falls behind
  private readonly minRate: number
  private readonly graceMs: number
  /** When the body's first read began (-1: not yet), and its bytes so far. */
  private dataStart = 0
  private dataBytes = 0
  /** Does the next body read wait only until the client falls behind? */
  private dataDeadline = false
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
    this.minRate = options.minDataRate ?? 0
    this.graceMs = Duration.toMillis(Duration.fromInputUnsafe(options.dataRateGrace ?? "30 seconds"))
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

  /** Switches the framer to DATA: the section's body may be read once, `finish` drains to its end. */
  startData(): DataSection {
    this.framer.startData()
    this.deadline.lineTaken()
    this.dataBytes = 0
    this.dataStart = -1 // the rate's clock starts at the first read of the body
    return new DataSection(this.framer, this)
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
      this.dataBytes += chunk.length
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
    const ms = this.dataWaitMs()
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

  /** How long the next read of a body may wait; 0: the client has already fallen behind. */
  private dataWaitMs(): number {
    if (this.minRate <= 0) return this.idleMs
    const time = this.session.now()
    if (this.dataStart < 0) this.dataStart = time
    const behind = this.dataStart + this.graceMs + (this.dataBytes / this.minRate) * 1000 - time
    this.dataDeadline = behind < this.idleMs
    if (behind <= 0) return 0
    // whole seconds: the socket's timer is re-armed only when the deadline moves by one
    return this.dataDeadline ? Math.ceil(behind / 1000) * 1000 : this.idleMs
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
    const ms = this.dataWaitMs()
    if (ms === 0) return Effect.fail(new Transport.ReadTimeout())
    return this.dataDeadline ? this.transport.read(Duration.millis(ms)) : this.read()
  }

  private readFailed(error: Transport.TransportError | Transport.ReadTimeout): Effect.Effect<never, ReadFailure> {
    this.waiting = false
    if (error._tag !== "ReadTimeout") return this.broken(new ReadFailure({ reason: "error" }))
    if (this.framer.currentMode === "data")
      return this.broken(new ReadFailure({ reason: this.dataDeadline ? "slow" : "timeout" }))
    return this.broken(new ReadFailure({ reason: this.deadline.bound ? "deadline" : "timeout" }))
  }

  private afterRead(chunk: Uint8Array | Transport.TakenInline | undefined): Effect.Effect<void, ReadFailure> {
    this.waiting = false
    if (chunk === undefined) return this.broken(new ReadFailure({ reason: "closed" }))
    // the chunk went to `take`: it is in the framer already
    if (chunk instanceof Transport.TakenInline) return Effect.void
    if (this.mode === "data") this.dataBytes += chunk.length
    if (this.framer.currentMode === "command") this.deadline.pushed(this.session.now())
    else this.deadline.arrived(this.session.now())
    this.framer.push(chunk)
    return Effect.void
  }
}

/**
 * One DATA section, from the 354 to its end: the body a handler may read (once), or the drain
 * of what it leaves.
 *
 * @since 0.1.0
 * @category models
 */
export class DataSection {
  /** The first reason the body was cut short stands (a bare line ending after the size limit does not replace it). */
  private aborted: Framer.AbortReason | undefined = undefined
  private end: DataEnd | undefined = undefined

  constructor(
    private readonly framer: Framer.Framer,
    private readonly reader: Reader
  ) {}

  /** The end without I/O, if the input read so far reaches it: what the handler left is dropped frame by frame. */
  drain(): DataEnd | undefined {
    while (this.end === undefined) {
      const frame = this.framer.pull()
      if (frame === undefined) return undefined
      if (frame._tag === "Abort") this.aborted ??= frame.reason
      else if (frame._tag === "EndOfData") this.end = new DataEnd(frame.size, this.aborted)
    }
    return this.end
  }

  /** Drains to the end, reading as needed. */
  finish(): Effect.Effect<DataEnd, ReadFailure> {
    const loop = (): Effect.Effect<DataEnd, ReadFailure> => {
      const done = this.drain()
      return done === undefined ? Effect.flatMap(this.reader.fillData(), loop) : Effect.succeed(done)
    }
    return Effect.suspend(loop)
  }

  /** The body as a stream, built when a handler asks for it: one that does not read it pays nothing. */
  body(): Stream.Stream<Uint8Array, Message.BodyError> {
    const pull = this.pull()
    // the stream ends where the effect fails with Done
    return Stream.fromEffectRepeat(
      Effect.suspend((): Effect.Effect<Uint8Array, Message.BodyError | Cause.Done> => {
        if (this.aborted !== undefined) return Effect.fail(abortError(this.aborted))
        return pull.pipe(
          Effect.mapError(
            (error) =>
              new Message.ClientDisconnected({
                reason: error.reason === "slow" || error.reason === "deadline" ? "timeout" : error.reason
              })
          ),
          Effect.flatMap((slice): Effect.Effect<Uint8Array, Message.BodyError | Cause.Done> => {
            if (this.aborted !== undefined) return Effect.fail(abortError(this.aborted))
            return Option.isSome(slice) ? Effect.succeed(slice.value) : Cause.done()
          })
        )
      })
    )
  }

  // one step: a body slice, or None at the end; Abort is remembered and reported by `finish`
  private pull(): Effect.Effect<Option.Option<Uint8Array>, ReadFailure> {
    const pull: Effect.Effect<Option.Option<Uint8Array>, ReadFailure> = Effect.suspend(() => {
      if (this.end !== undefined) return Effect.succeed(Option.none())
      const frame = this.framer.pull()
      if (frame === undefined) return Effect.andThen(this.reader.fillData(), pull)
      switch (frame._tag) {
        case "Body":
          return this.aborted === undefined ? Effect.succeed(Option.some(frame.bytes)) : pull
        case "Abort":
          this.aborted ??= frame.reason
          return pull
        case "EndOfData":
          this.end = new DataEnd(frame.size, this.aborted)
          return Effect.succeed(Option.none())
        default:
          return pull
      }
    })
    return pull
  }
}

const abortError = (reason: Framer.AbortReason): Message.BodyError =>
  reason === "MessageTooBig" ? new SmtpError.MessageTooBig() : new SmtpError.BareLineEnding()
