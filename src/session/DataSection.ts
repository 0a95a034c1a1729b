/**
 * One DATA section as the session reads it: the body handed to the message handler as a stream
 * pulled straight from the input (backpressure: nothing is read before the handler asks), the
 * drain of whatever the handler leaves, up to `CRLF.CRLF`, and the reply to it.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Message from "../handler/Message.js"
import type * as Framer from "../protocol/Framer.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Metrics from "../server/Metrics.js"
import type { ReadFailure } from "./ReadFailure.js"

/**
 * How a DATA section ended: its size, and why the framer stopped handing it on, if it did.
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
export class DataSection {
  /** The first reason stands: a bare line ending after the size limit does not replace it. */
  private aborted: Framer.AbortReason | undefined = undefined
  private end: DataEnd | undefined = undefined

  /** `read` pushes one more chunk of input into the framer (in DATA mode). */
  constructor(
    private readonly framer: Framer.Framer,
    private readonly read: Effect.Effect<void, ReadFailure>
  ) {}

  /**
   * The content, unstuffed, while the client sends it. Past a limit it fails with the limit's
   * error, once the rest of the message is drained; a client gone is `ClientDisconnected`.
   */
  readonly body: Stream.Stream<Uint8Array, Message.BodyError> = Stream.fromEffectRepeat(
    Effect.suspend(() =>
      this.slice.pipe(
        Effect.mapError(
          (error) =>
            new Message.ClientDisconnected({
              reason: error.reason === "slow" || error.reason === "deadline" ? "timeout" : error.reason
            })
        ),
        Effect.flatMap((bytes): Effect.Effect<Uint8Array, Message.BodyError | Cause.Done> => {
          if (this.aborted !== undefined) return Effect.fail(abortError(this.aborted))
          return bytes === undefined ? Cause.done() : Effect.succeed(bytes)
        })
      )
    )
  )

  /** Reads to the end of the message, whatever the handler left unread. */
  readonly finish: Effect.Effect<DataEnd, ReadFailure> = Effect.suspend(() => {
    while (this.end === undefined) {
      const frame = this.framer.pull()
      if (frame === undefined) return Effect.andThen(this.read, this.finish)
      this.note(frame)
    }
    return Effect.succeed(this.end)
  })

  // the next slice for the handler, or `undefined` at the end (after an abort, none is handed on)
  private readonly slice: Effect.Effect<Uint8Array | undefined, ReadFailure> = Effect.suspend(() => {
    while (this.end === undefined) {
      const frame = this.framer.pull()
      if (frame === undefined) return Effect.andThen(this.read, this.slice)
      if (frame._tag === "Body" && this.aborted === undefined) return Effect.succeed(frame.bytes)
      this.note(frame)
    }
    return Effect.succeed(undefined)
  })

  private note(frame: Framer.Frame): void {
    if (frame._tag === "Abort") this.aborted ??= frame.reason
    else if (frame._tag === "EndOfData") this.end = { size: frame.size, aborted: this.aborted }
  }
}

const abortError = (reason: Framer.AbortReason): Message.BodyError =>
  reason === "MessageTooBig" ? new SmtpError.MessageTooBig() : new SmtpError.BareLineEnding()

/**
 * The reply to a DATA section read to its end, given the handler's outcome; counted in the
 * server's metrics.
 *
 * @since 0.1.0
 * @category combinators
 */
export const verdict = (
  end: DataEnd,
  outcome: Result.Result<void | Reply.Reply, Reply.Reply>
): Effect.Effect<Reply.Reply> => {
  if (end.aborted !== undefined) {
    return Effect.as(rejected, end.aborted === "MessageTooBig" ? Reply.messageTooBig : Reply.bareLineEnding)
  }
  if (Result.isFailure(outcome)) return Effect.as(rejected, outcome.failure)
  // a handler written in plain JS may return anything: only a Reply replaces the 250
  const reply = outcome.success instanceof Reply.Reply ? outcome.success : Reply.accepted
  return Metric.update(Metrics.messagesAccepted, 1).pipe(
    Effect.andThen(Metric.update(Metrics.messageSize, end.size)),
    Effect.as(reply)
  )
}

const rejected = Metric.update(Metrics.messagesRejected, 1)
