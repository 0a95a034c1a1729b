/**
 * The read side of a connection: pushes transport chunks into the framer as frames are
 * pulled, flushing pending replies before any read that may wait (RFC 2920 §3.2), with the
 * idle timeout on every read. It also hands DATA to the handler as a stream pulled straight
 * from the socket, and drains what the handler leaves.
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
import * as Transport from "./Transport.js"

/**
 * Why a connection can no longer be read. The client gets `421 4.4.2` for a timeout (idle, or a
 * DATA slower than `minDataRate`) and nothing when it is gone.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReadFailure extends Data.TaggedError("ReadFailure")<{
  /** `slow`: DATA came in under the minimum rate. */
  readonly reason: "closed" | "timeout" | "slow" | "error"
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
export interface DataEnd {
  readonly size: number
  readonly aborted: Framer.AbortReason | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Reader {
  /** The next command frame already buffered, if any (no I/O). */
  readonly bufferedCommand: () => CommandFrame | undefined
  /** Puts a frame back: the next `bufferedCommand` returns it (one that inline handling left). */
  readonly unread: (frame: CommandFrame) => void
  /** Flushes pending replies, then waits for more input (acted on inline, if the session can). */
  readonly fillCommand: () => Effect.Effect<void, ReadFailure>
  /** `fillCommand` for a line that is not a command (a SASL answer): never acted on inline. */
  readonly fillAnswer: () => Effect.Effect<void, ReadFailure>
  /** Switches the framer to DATA; the body stream may be read once, `finish` drains to the end. */
  readonly startData: () => {
    /** Built on demand: a handler that does not read the body does not pay for a stream. */
    readonly body: () => Stream.Stream<Uint8Array, Message.BodyError>
    readonly finish: Effect.Effect<DataEnd, ReadFailure>
    /** `finish` without I/O: the end, if the input read so far reaches it. */
    readonly drain: () => DataEnd | undefined
  }
  /**
   * Waits for the next command with no fiber (`Transport.Parking`), the input acted on inline;
   * `wake` runs when the session needs its fiber. False: it cannot (no inline handling, no
   * parking, or input already queued), the session reads in its fiber.
   */
  readonly park: (wake: () => void) => boolean
  /** Is the session waiting for the client's next command (and has no input to act on)? */
  readonly waitingForCommand: () => boolean
}

/**
 * What a reader needs from its session.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly idleTimeout: Duration.Input
  /** Writes the replies pending, if any (`undefined` when there are none). */
  readonly flush: () => Effect.Effect<void, Transport.TransportError> | undefined
  /** Slowest DATA in bytes per second once `dataRateGrace` has passed; 0 = none. */
  readonly minDataRate?: number | undefined
  readonly dataRateGrace?: Duration.Input | undefined
  /** The time in milliseconds (the session's Clock, so that TestClock moves it). */
  readonly now?: (() => number) | undefined
  /**
   * Acts on the input buffered so far without effects, while a command read waits (see
   * `Transport.Inline`): true when it handled all of it and wrote its replies.
   */
  readonly inline?: (() => boolean) | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (transport: Transport.Transport, framer: Framer.Framer, options: Options): Reader => {
  let failure: ReadFailure | undefined
  let waiting = false
  let mode: "command" | "answer" | "data" = "command"
  // once broken, every later read fails the same way at once
  const broken = (error: ReadFailure) => {
    failure = error
    return Effect.fail(error)
  }
  const idle = Duration.fromInputUnsafe(options.idleTimeout)
  const idleMs = Duration.toMillis(idle)
  // the reads and fills a session may never need are built on first use: an idle session holds
  // only what its next command read needs
  let plainRead: Effect.Effect<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout> | undefined
  const read = () => (plainRead ??= transport.read(idle))
  // DATA's minimum rate (Postfix's smtpd_min_data_rate): after the grace period the client must
  // have sent `minDataRate` bytes for every second; each read may wait only until it falls behind
  const minRate = options.minDataRate ?? 0
  const graceMs = Duration.toMillis(Duration.fromInputUnsafe(options.dataRateGrace ?? "30 seconds"))
  let dataStart = 0
  let dataBytes = 0
  let dataDeadline = false
  const now = options.now ?? (() => Date.now())
  // how long the next read of a body may wait; 0: the client has already fallen behind
  const dataWaitMs = () => {
    if (minRate <= 0) return idleMs
    const time = now()
    if (dataStart < 0) dataStart = time
    const behind = dataStart + graceMs + (dataBytes / minRate) * 1000 - time
    dataDeadline = behind < idleMs
    if (behind <= 0) return 0
    // whole seconds: the socket's timer is re-armed only when the deadline moves by one
    return dataDeadline ? Math.ceil(behind / 1000) * 1000 : idleMs
  }
  const readData = () => {
    const ms = dataWaitMs()
    if (ms === 0) return Effect.fail(new Transport.ReadTimeout())
    return dataDeadline ? transport.read(Duration.millis(ms)) : read()
  }
  // a chunk that came while a command read waits, acted on in the transport's callback
  const inline = options.inline
  const take: Transport.Inline = (chunk) => {
    if (framer.currentMode === "data") dataBytes += chunk.length
    framer.push(chunk)
    if (inline === undefined || !inline()) return undefined
    // all handled: waiting again, for a command or for the body of a DATA begun inline
    if (framer.currentMode === "command") return idleMs
    // behind the minimum rate: the session's loop ends it
    const ms = dataWaitMs()
    return ms === 0 ? undefined : ms
  }
  let inlineRead: typeof plainRead
  const readInline = () => (inline === undefined ? read() : (inlineRead ??= transport.read(idle, take)))
  const afterRead = (chunk: Uint8Array | undefined) => {
    waiting = false
    if (chunk === undefined) return broken(new ReadFailure({ reason: "closed" }))
    if (mode === "data") dataBytes += chunk.length
    framer.push(chunk)
    return Effect.void
  }
  // runs once per socket read: kept to a few plain steps (each step is runtime work). Built on
  // the first read in the session's fiber: a parked session never needs it
  let readStep: Effect.Effect<void, ReadFailure> | undefined
  const makeReadStep = (): Effect.Effect<void, ReadFailure> =>
    Effect.matchEffect(
      Effect.suspend(() => {
        waiting = mode === "command"
        return mode === "data" ? readData() : mode === "command" ? readInline() : read()
      }),
      {
        onFailure: (error) => {
          waiting = false
          if (error._tag !== "ReadTimeout") return broken(new ReadFailure({ reason: "error" }))
          const slow = framer.currentMode === "data" && dataDeadline
          return broken(new ReadFailure({ reason: slow ? "slow" : "timeout" }))
        },
        onSuccess: afterRead
      }
    )
  const afterWrite = () => ({
    onFailure: () => broken(new ReadFailure({ reason: "error" })),
    onSuccess: () => (readStep ??= makeReadStep())
  })
  let writeThenRead: ReturnType<typeof afterWrite> | undefined
  const fill = (nextMode: typeof mode): Effect.Effect<void, ReadFailure> =>
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      mode = nextMode
      const written = options.flush()
      return written === undefined
        ? (readStep ??= makeReadStep())
        : Effect.matchEffect(written, (writeThenRead ??= afterWrite()))
    })

  // the connection only asks for commands while the framer is in command mode
  let putBack: CommandFrame | undefined
  const bufferedCommand = () => {
    const frame = putBack
    if (frame === undefined) return framer.pull() as CommandFrame | undefined
    putBack = undefined
    return frame
  }
  const unread = (frame: CommandFrame) => {
    putBack = frame
  }
  let commandFill: Effect.Effect<void, ReadFailure> | undefined
  let answerFill: Effect.Effect<void, ReadFailure> | undefined
  let dataFill: Effect.Effect<void, ReadFailure> | undefined
  const fillData = () => (dataFill ??= fill("data"))

  const startData = () => {
    framer.startData()
    dataBytes = 0
    dataStart = -1 // the rate's clock starts at the first read of the body
    let aborted: Framer.AbortReason | undefined
    let end: DataEnd | undefined
    // one step: a body slice, or None at the end; Abort is remembered and reported by `finish`
    const pull: Effect.Effect<Option.Option<Uint8Array>, ReadFailure> = Effect.suspend(() => {
      if (end !== undefined) return Effect.succeed(Option.none())
      const frame = framer.pull()
      if (frame === undefined) return Effect.andThen(fillData(), pull)
      switch (frame._tag) {
        case "Body":
          return aborted === undefined ? Effect.succeed(Option.some(frame.bytes)) : pull
        case "Abort":
          // the first reason stands: a bare line ending after the size limit does not replace it
          aborted ??= frame.reason
          return pull
        case "EndOfData":
          end = { size: frame.size, aborted }
          return Effect.succeed(Option.none())
        default:
          return pull
      }
    })
    const body = (): Stream.Stream<Uint8Array, Message.BodyError> =>
      // the stream ends where the effect fails with Done
      Stream.fromEffectRepeat(
        Effect.suspend((): Effect.Effect<Uint8Array, Message.BodyError | Cause.Done> => {
          if (aborted !== undefined) return Effect.fail(abortError(aborted))
          return pull.pipe(
            Effect.mapError(
              (error) => new Message.ClientDisconnected({ reason: error.reason === "slow" ? "timeout" : error.reason })
            ),
            Effect.flatMap((slice): Effect.Effect<Uint8Array, Message.BodyError | Cause.Done> => {
              if (aborted !== undefined) return Effect.fail(abortError(aborted))
              return Option.isSome(slice) ? Effect.succeed(slice.value) : Cause.done()
            })
          )
        })
      )
    // drains what the handler left, frame by frame without an effect per frame
    const drain = () => {
      while (end === undefined) {
        const frame = framer.pull()
        if (frame === undefined) return undefined
        if (frame._tag === "Abort") aborted ??= frame.reason
        else if (frame._tag === "EndOfData") end = { size: frame.size, aborted }
      }
      return end
    }
    const finish: Effect.Effect<DataEnd, ReadFailure> = Effect.suspend(function loop(): Effect.Effect<
      DataEnd,
      ReadFailure
    > {
      const done = drain()
      return done === undefined ? Effect.flatMap(fillData(), loop) : Effect.succeed(done)
    })
    return { body, finish, drain }
  }

  const park = (wake: () => void) => {
    if (inline === undefined || transport.park === undefined || failure !== undefined) return false
    mode = "command"
    waiting = transport.park.start(take, idleMs, () => {
      waiting = false
      wake()
    })
    return waiting
  }

  return new Handle(
    park,
    bufferedCommand,
    unread,
    () => (commandFill ??= fill("command")),
    () => (answerFill ??= fill("answer")),
    startData,
    // a DATA begun inline waits in a command read: it is not idle
    () => waiting && failure === undefined && framer.currentMode === "command"
  )
}

// a class, not an object literal: see NodeTransport's note on a connection's objects. (And no
// getters: a literal's getter lives in its hidden class, one hidden class per session.)
class Handle implements Reader {
  constructor(
    readonly park: Reader["park"],
    readonly bufferedCommand: Reader["bufferedCommand"],
    readonly unread: Reader["unread"],
    readonly fillCommand: Reader["fillCommand"],
    readonly fillAnswer: Reader["fillAnswer"],
    readonly startData: Reader["startData"],
    readonly waitingForCommand: Reader["waitingForCommand"]
  ) {}
}

const abortError = (reason: Framer.AbortReason): Message.BodyError =>
  reason === "MessageTooBig" ? new SmtpError.MessageTooBig() : new SmtpError.BareLineEnding()
