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
import type { ServerConfig } from "../server/ServerConfig.js"
import { DataSection } from "./DataSection.js"
import { ReadFailure } from "./ReadFailure.js"

export { ReadFailure } from "./ReadFailure.js"

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
  private readonly framer: Framer.Framer
  private readonly idleMs: number
  private pending = ""
  /** The chunks of the input's last pull, pushed into the framer one read at a time. */
  private chunks: ReadonlyArray<Uint8Array> = []
  private taken = 0
  /** Once broken, every later read fails the same way at once. */
  private failure: ReadFailure | undefined = undefined
  /** The input stream's own error, if it failed: the session's output fails with it at the end. */
  inputError: { readonly error: E } | undefined = undefined
  // DATA's minimum rate: when the body began, what it has read since, and whether the rate
  // (not the idle timeout) bounds the current read
  private dataStart = -1
  private dataBytes = 0
  private dataDeadline = false
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
    const frame = this.framer.pull() as CommandFrame | undefined
    if (frame === undefined) return Effect.andThen(this.read("command"), this.command)
    this.deadline.lineTaken()
    return Effect.succeed(frame)
  })

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
  startData(): DataSection {
    this.framer.startData()
    this.deadline.lineTaken()
    this.dataStart = -1 // the rate's clock starts at the first read of the body
    this.dataBytes = 0
    return new DataSection(this.framer, this.read("data"))
  }

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
    const wait = mode === "data" ? this.dataWait(now) : this.lineWait(now)
    if (wait === 0) return this.broken(mode === "data" ? "slow" : "deadline")
    if (this.taken < this.chunks.length) {
      const chunk = this.chunks[this.taken++]!
      if (mode === "data") this.dataBytes += chunk.length
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
            if (this.isData()) return this.broken(this.dataDeadline ? "slow" : "timeout")
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

  // Postfix's smtpd_min_data_rate: once the grace period is over the client must have sent
  // `minDataRate` bytes for every second; a read of the body waits only until it falls behind.
  // 0: it has. (Whole seconds, as the Node transport re-arms its timer.)
  private dataWait(now: number): number {
    const { dataRateGrace, minDataRate } = this.config
    if (minDataRate <= 0) return this.idleMs
    if (this.dataStart < 0) this.dataStart = now
    const behind = this.dataStart + Duration.toMillis(dataRateGrace) + (this.dataBytes / minDataRate) * 1000 - now
    this.dataDeadline = behind < this.idleMs
    if (behind <= 0) return 0
    return this.dataDeadline ? Math.ceil(behind / 1000) * 1000 : this.idleMs
  }
}

const timedOut = Symbol.for("effect-smtpd/session/Wire/timedOut")
