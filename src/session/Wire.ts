/**
 * The two ends of a session over a byte stream (see `SmtpSession`): frames in, cut by the framer
 * in the mode the session is in (command lines, AUTH answers, DATA content), and replies out,
 * batched until the next read. Every read first writes the replies pending (RFC 2920 §3.2),
 * then takes one chunk of input, waiting at most the idle timeout (while a line is open, at most
 * until its command deadline; in DATA, at most until the client falls below the minimum data
 * rate) on Effect's clock.
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Framer from "../protocol/Framer.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import { CommandDeadline } from "../internal/CommandDeadline.js"
import { DataRate } from "../internal/DataRate.js"
import type { ServerConfig } from "../server/ServerConfig.js"
import { ReadFailure } from "../internal/ReadFailure.js"

export { ReadFailure } from "../internal/ReadFailure.js"

/**
 * @since 0.1.0
 * @category models
 */
export type CommandFrame = Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>

type Mode = "command" | "answer" | "data"

const encoder = new TextEncoder()

/**
 * @since 0.1.0
 * @category models
 */
export class Wire<E> {
  readonly framer: Framer.Framer
  private readonly idleMs: number
  private pending = ""
  /** A frame handed back (by a message abandoned between BDAT chunks): the next command. */
  private putBack: CommandFrame | undefined = undefined
  /** The chunks of the input's last pull, pushed into the framer one read at a time. */
  private chunks: ReadonlyArray<Uint8Array> = []
  private taken = 0
  /** Once broken, every later read fails the same way at once. */
  private failure: ReadFailure | undefined = undefined
  /** The input stream's own error, if it failed: the session's output fails with it at the end. */
  inputError: { readonly error: E } | undefined = undefined
  /** DATA's minimum rate (the same arithmetic as the fast engine's). */
  private readonly rate: DataRate
  /** The deadline of the line being read (the same arithmetic as the fast engine's). */
  private readonly deadline: CommandDeadline
  /** When the chunks of the last pull came. */
  private arrivedAt = 0

  constructor(
    private readonly input: Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, E>,
    private readonly write: (bytes: Uint8Array) => Effect.Effect<void>,
    private readonly config: ServerConfig
  ) {
    this.framer = Framer.make({
      maxLineLength: config.maxLineLength,
      maxMessageSize: config.protocol.maxMessageSize,
      bareLineEndings: config.bareLineEndings
    })
    this.idleMs = Duration.toMillis(config.idleTimeout)
    this.deadline = new CommandDeadline(Duration.toMillis(config.commandDeadline), this.idleMs)
    this.rate = new DataRate(config.minDataRate, Duration.toMillis(config.dataRateGrace), this.idleMs)
  }

  /** Queues a reply; enhanced status codes only once the client said EHLO (RFC 2034). */
  send(reply: Reply.Reply, esmtp: boolean): void {
    this.pending += Reply.encode(reply, esmtp)
  }

  /** Writes the replies pending, in one piece. */
  readonly flush: Effect.Effect<void> = Effect.suspend(() => {
    if (this.pending === "") return Effect.void
    const out = this.pending
    this.pending = ""
    const write = this.write(encoder.encode(out))
    return this.config.trace ? Effect.andThen(Effect.logDebug(`>>> ${out.trimEnd()}`), write) : write
  })

  /** The next command line, read if none is buffered. */
  readonly command: Effect.Effect<CommandFrame, ReadFailure> = Effect.suspend(() => {
    const frame = this.bufferedCommand()
    return frame === undefined ? Effect.andThen(this.read("command"), this.command) : Effect.succeed(frame)
  })

  /** The next command line buffered, if any (no I/O). */
  bufferedCommand(): CommandFrame | undefined {
    const back = this.putBack
    if (back !== undefined) {
      this.putBack = undefined
      return back
    }
    const frame = this.framer.pull() as CommandFrame | undefined
    if (frame !== undefined) this.deadline.lineTaken()
    return frame
  }

  /** Hands a frame back: the next command. */
  unread(frame: CommandFrame): void {
    this.putBack = frame
  }

  /** The next line as the client sent it, not a command (a SASL answer); `undefined` if too long. */
  readonly answer: Effect.Effect<string | undefined, ReadFailure> = Effect.suspend(() => {
    const frame = this.framer.pull() as CommandFrame | undefined
    if (frame === undefined) return Effect.andThen(this.read("answer"), this.answer)
    this.deadline.lineTaken()
    // a line that is not text cannot be base64: the mechanism refuses it
    return Effect.succeed(frame._tag === "Line" ? (Protocol.lineText(frame.bytes) ?? "\u0000") : undefined)
  })

  /** Has the client sent more than the frame just taken (it did not wait for our reply)? */
  hasMore(): boolean {
    return this.framer.buffered > 0
  }

  /** Drops the input buffered so far. */
  discard(): void {
    this.framer.reset()
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

  /** Reads more of a message's content (at DATA's minimum rate). */
  readonly fillData: Effect.Effect<void, ReadFailure> = Effect.suspend(() => this.read("data"))

  /** Reads more while a line is awaited that is not acted on as a command by itself. */
  readonly fillLine: Effect.Effect<void, ReadFailure> = Effect.suspend(() => this.read("answer"))

  private read(mode: Mode): Effect.Effect<void, ReadFailure> {
    return Effect.suspend(() =>
      this.failure === undefined
        ? this.flush.pipe(
            Effect.andThen(Clock.currentTimeMillis),
            Effect.flatMap((now) => this.take(mode, now))
          )
        : Effect.fail(this.failure)
    )
  }

  private take(mode: Mode, now: number): Effect.Effect<void, ReadFailure> {
    const wait = mode === "data" ? this.rate.waitMs({ now: () => now }) : this.lineWait(now)
    if (wait === 0) return this.broken(mode === "data" ? "slow" : "deadline")
    if (this.taken < this.chunks.length) {
      const chunk = this.chunks[this.taken++]!
      if (mode === "data") this.rate.add(chunk.length)
      if (this.isData()) this.deadline.arrived(this.arrivedAt)
      else this.deadline.pushed(this.arrivedAt)
      this.framer.push(chunk)
      return Effect.void
    }
    return this.input.pipe(
      Effect.timeoutOrElse({ duration: Duration.millis(wait), orElse: () => Effect.fail(timedOut) }),
      Effect.matchCauseEffect({
        onSuccess: (chunks) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) => {
            this.chunks = chunks
            this.taken = 0
            this.arrivedAt = at
            return this.take(mode, now)
          }),
        onFailure: (cause) => {
          const error = Cause.findErrorOption(cause)
          if (error._tag === "None") return Effect.failCause(cause as Cause.Cause<never>)
          if (error.value === timedOut) {
            if (this.isData()) return this.broken(this.rate.bound ? "slow" : "timeout")
            return this.broken(this.deadline.bound ? "deadline" : "timeout")
          }
          if (Cause.isDone(error.value)) return this.broken("closed")
          this.inputError = { error: error.value as E }
          return this.broken("error")
        }
      })
    )
  }

  // a command line or SASL answer: the idle timeout, or its deadline once it has begun (a DATA
  // begun in the same chunk is not read here)
  private lineWait(now: number): number {
    if (this.isData()) return this.idleMs
    const clock = { now: () => now }
    return this.deadline.waitMs(this.framer.buffered, clock)
  }

  private isData(): boolean {
    return this.framer.currentMode === "data"
  }

  private broken(reason: ReadFailure["reason"]): Effect.Effect<never, ReadFailure> {
    this.failure = new ReadFailure({ reason })
    return Effect.fail(this.failure)
  }
}

const timedOut = Symbol.for("effect-smtpd/session/Wire/timedOut")
