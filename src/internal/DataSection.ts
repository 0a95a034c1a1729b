/**
 * One message's content as both engines read it, after DATA's 354 or from the first BDAT to the
 * last: the body handed to the handler as a stream pulled straight from the input (backpressure:
 * nothing is read before the handler asks), the drain of whatever the handler leaves, and the
 * replies at its end. Between BDAT chunks it answers each chunk and steps the commands that
 * come (the next BDAT, or a NOOP); any other command abandons the message and goes back to the
 * session's loop.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Message from "../handler/Message.js"
import * as Verdicts from "../handler/Verdicts.js"
import * as Framer from "../protocol/Framer.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import * as Session from "../protocol/Session.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Metrics from "../server/Metrics.js"
import type { Environment } from "./Environment.js"
import type { ReadFailure } from "./ReadFailure.js"

/**
 * @since 0.2.0
 * @category models
 */
export type CommandFrame = Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>

/**
 * What a section needs from its session: the framer, the fold's state, replies, and reads.
 *
 * @since 0.2.0
 * @category models
 */
export interface Host {
  readonly framer: Framer.Framer
  state: Session.SessionState
  send(reply: Reply.Reply): void
  /** The protocol's configuration, to step commands between chunks. */
  protocolConfig(): Protocol.Config
  /** The next command frame buffered, if any (no I/O). */
  nextCommand(): CommandFrame | undefined
  /** Hands a command back to the session's loop. */
  unread(frame: CommandFrame): void
  /** Reads more of the content (DATA's minimum rate applies). */
  fillData(): Effect.Effect<void, ReadFailure>
  /** Reads more while a command line is awaited between chunks (never acted on inline). */
  fillLine(): Effect.Effect<void, ReadFailure>
}

/**
 * How a section ended: its size, why the framer stopped handing it on, if it did, and whether
 * the client abandoned it between chunks (then there is no reply to give).
 *
 * @since 0.2.0
 * @category models
 */
export class DataEnd {
  constructor(
    readonly size: number,
    readonly aborted: Framer.AbortReason | undefined,
    readonly abandoned: boolean
  ) {}
}

const endOfContent = Symbol.for("effect-smtpd/DataSection/end")

/**
 * @since 0.2.0
 * @category models
 */
export class DataSection {
  /** The first reason stands: a bare line ending after the size limit does not replace it. */
  private aborted: Framer.AbortReason | undefined = undefined
  private end: DataEnd | undefined = undefined
  /** BDAT: waiting for the command after a chunk. */
  private betweenChunks = false
  /** The content read before its handler was called (`keep`): the body begins with it. */
  private kept: Array<Uint8Array> | undefined = undefined
  private keptSize = 0
  /** The message handed to the handler, let go of once the transaction is answered. */
  private handed: SectionMessage | undefined = undefined

  /** `chunk`: the message comes in BDAT chunks; the current one is `last`, of `size` octets. */
  constructor(
    private readonly host: Host,
    /** The transaction's envelope, as the message began. */
    readonly envelope: Session.Envelope,
    private chunk: { last: boolean; size: number } | undefined
  ) {}

  /** The end without I/O, if the input read so far reaches it: what the handler left is dropped. */
  drain(): DataEnd | undefined {
    while (this.end === undefined) {
      if (this.next() === undefined) return undefined
    }
    return this.end
  }

  /**
   * Keeps the content read so far, without I/O, for a handler to be called once it is all in:
   * its end when it is (the handler reads what was kept), `"full"` once more than `limit` octets
   * are kept (the handler is called now and reads the rest as it comes), `undefined` when more
   * input is needed.
   */
  keep(limit: number): DataEnd | "full" | undefined {
    const kept = (this.kept ??= [])
    while (this.end === undefined) {
      if (this.keptSize > limit) return "full"
      const bytes = this.next()
      if (bytes === undefined) return undefined
      // the input's chunks are not reused, but a slice keeps only what the message needs
      if (bytes !== endOfContent) {
        kept.push(bytes.slice())
        this.keptSize += bytes.length
      }
    }
    return this.end
  }

  /** The message as its handler gets it. */
  message(decodeData: boolean): Message.Message {
    return (this.handed = new SectionMessage(this, decodeData))
  }

  /**
   * The end of the message: the transaction is over, and the reply says how (over LMTP, one
   * per recipient), counted in `env`'s metrics. A message the client abandoned between chunks
   * gets none.
   */
  answer(
    end: DataEnd,
    outcome: Result.Result<void | Reply.Reply | Verdicts.PerRecipient, Reply.Reply>,
    env: Pick<Environment, "config" | "context" | "spans">
  ): void {
    this.release()
    if (end.abandoned) return
    const host = this.host
    const { context, config, spans } = env
    const verdict = replies(end, outcome, this.envelope.recipients.length, config.protocol.lmtp)
    // (told to the transaction's span before the reset ends it)
    spans?.message(end.size, verdict.replies)
    host.state = Session.reset(host.state)
    if (verdict.accepted) {
      Metrics.messagesAccepted.updateUnsafe(1, context)
      Metrics.messageSize.updateUnsafe(end.size, context)
    } else {
      Metrics.messagesRejected.updateUnsafe(1, context)
    }
    if (verdict.replies instanceof Reply.Reply) return host.send(verdict.replies)
    for (const reply of verdict.replies) host.send(reply)
  }

  /** The transaction is answered: the message handed out lets go of the section (and session). */
  release(): void {
    this.handed?.detach()
    this.handed = undefined
  }

  /** The content is coming in BDAT chunks. */
  get chunked(): boolean {
    return this.chunk !== undefined
  }

  /** Drains to the end, reading as needed. */
  finish(): Effect.Effect<DataEnd, ReadFailure> {
    const loop = (): Effect.Effect<DataEnd, ReadFailure> => {
      const done = this.drain()
      return done === undefined ? Effect.flatMap(this.fill(), loop) : Effect.succeed(done)
    }
    return Effect.suspend(loop)
  }

  /** The whole body at once if all of it was kept (no abort): what `body()` would stream, consumed as it would be. */
  whole(): Uint8Array | undefined {
    const kept = this.kept
    if (kept === undefined || this.aborted !== undefined || this.end === undefined) return undefined
    this.kept = undefined
    return kept.length === 1 ? kept[0]! : Framer.concat(kept)
  }

  /** The body as a stream, built when a handler asks for it: one that does not read it pays nothing. */
  body(): Stream.Stream<Uint8Array, Message.BodyError> {
    const kept = this.kept
    this.kept = undefined
    if (kept !== undefined) {
      // an abort seen while keeping: the handler hears of it after what came before it
      const aborted = this.aborted
      if (aborted !== undefined) return Stream.concat(Stream.fromArray(kept), Stream.fail(abortError(aborted)))
      // all of it was kept: no reads to make
      if (this.end !== undefined) return Stream.fromArray(kept)
    }
    const pull: Effect.Effect<Uint8Array | undefined, ReadFailure> = Effect.suspend(() => {
      const bytes = this.next()
      if (bytes === undefined) return Effect.andThen(this.fill(), pull)
      return Effect.succeed(bytes === endOfContent ? undefined : bytes)
    })
    // the stream ends where the effect fails with Done
    const rest = Stream.fromEffectRepeat(
      pull.pipe(
        Effect.mapError(
          (error) =>
            new Message.ClientDisconnected({
              reason: error.reason === "slow" || error.reason === "deadline" ? "timeout" : error.reason
            })
        ),
        Effect.flatMap((bytes): Effect.Effect<Uint8Array, Message.BodyError | Cause.Done> => {
          if (this.aborted !== undefined) return Effect.fail(abortError(this.aborted))
          if (this.end?.abandoned === true) return Effect.fail(new Message.ClientDisconnected({ reason: "abandoned" }))
          return bytes === undefined ? Cause.done() : Effect.succeed(bytes)
        })
      )
    )
    return kept === undefined ? rest : Stream.concat(Stream.fromArray(kept), rest)
  }

  private fill(): Effect.Effect<void, ReadFailure> {
    return this.betweenChunks ? this.host.fillLine() : this.host.fillData()
  }

  // the next slice for the handler, `endOfContent` at the end or an abort, or `undefined` when
  // more input is needed; a slice after an abort is dropped
  private next(): Uint8Array | typeof endOfContent | undefined {
    const framer = this.host.framer
    while (this.end === undefined) {
      if (this.betweenChunks) {
        const frame = this.host.nextCommand()
        if (frame === undefined) return undefined
        this.between(frame)
        continue
      }
      const frame = framer.pull()
      if (frame === undefined) return undefined
      switch (frame._tag) {
        case "Body":
          if (this.aborted === undefined) return frame.bytes
          break
        case "Abort":
          // the handler hears of it now; the drain goes on to the end
          this.aborted ??= frame.reason
          return endOfContent
        case "EndOfData":
          this.end = new DataEnd(frame.size, this.aborted, false)
          break
        case "EndOfChunk":
          if (this.chunk === undefined || this.chunk.last) this.end = new DataEnd(frame.size, this.aborted, false)
          else this.chunkDone()
          break
      }
    }
    return endOfContent
  }

  // a chunk that is not the last: its own reply (RFC 3030 §2), then the next command
  private chunkDone(): void {
    const size = this.chunk?.size ?? 0
    this.host.send(
      this.aborted === undefined ? Reply.make(250, "2.0.0", `Ok: ${size} octets received`) : Reply.messageTooBig
    )
    this.betweenChunks = true
  }

  // A command between chunks. The next BDAT goes on with the message; a command answered
  // without leaving the transaction (NOOP, or one out of turn: 503) is answered here. Anything
  // else abandons the message: the transaction is reset and the command goes back to the loop.
  private between(frame: CommandFrame): void {
    const host = this.host
    const decision = Protocol.step(host.protocolConfig(), host.state, frame)
    if (decision._tag === "Bdat") {
      host.state = decision.state
      host.framer.startChunk(decision.size, false)
      this.chunk = { last: decision.last, size: decision.size }
      this.betweenChunks = false
      return
    }
    if (decision._tag === "Reply" && decision.state.envelope !== undefined && decision.slow !== true) {
      host.state = decision.state
      if (decision.discard !== undefined) host.framer.discard(decision.discard)
      host.send(decision.reply)
      return
    }
    host.state = Session.reset(host.state)
    host.unread(frame)
    this.end = new DataEnd(0, this.aborted, true)
  }
}

// a message as its handler gets it: the body stream is built when the handler asks for it. (A
// getter on the prototype, never in an object literal: docs/performance/gc.md.) Once the
// transaction is answered it lets go of the section, and so of the session: a closure of the
// handler's that outlives the hook (any generator function made per message does, in V8's old
// generation) then keeps only the message. Its body is over by then: an empty stream.
class SectionMessage implements Message.Message {
  readonly envelope: Session.Envelope
  private section: DataSection | undefined
  constructor(
    section: DataSection,
    readonly decodeData: boolean
  ) {
    this.envelope = section.envelope
    this.section = section
  }
  get body(): Stream.Stream<Uint8Array, Message.BodyError> {
    return this.section === undefined ? Stream.empty : this.section.body()
  }
  [Message.whole](): Uint8Array | undefined {
    return this.section?.whole()
  }
  detach(): void {
    this.section = undefined
  }
}

const abortError = (reason: Framer.AbortReason): Message.BodyError =>
  reason === "MessageTooBig" ? new SmtpError.MessageTooBig() : new SmtpError.BareLineEnding()

// the common case allocates nothing
const acceptedOnce = { replies: Reply.accepted, accepted: true }

/**
 * The reply to a message read to its end (never to an abandoned one), given the handler's
 * outcome: one reply, or over LMTP one per recipient of `envelope`, in RCPT order (RFC 2033
 * §4.2). `accepted`: at least one recipient has the message (for the metrics).
 *
 * @since 0.2.0
 * @category getters
 */
export const replies = (
  end: DataEnd,
  outcome: Result.Result<void | Reply.Reply | Verdicts.PerRecipient, Reply.Reply>,
  recipients: number,
  lmtp: boolean
): { readonly replies: Reply.Reply | ReadonlyArray<Reply.Reply>; readonly accepted: boolean } => {
  if (!lmtp && Result.isSuccess(outcome) && outcome.success === undefined && end.aborted === undefined) {
    return acceptedOnce
  }
  const one = (reply: Reply.Reply) => ({
    replies: lmtp ? Array.from({ length: recipients }, () => reply) : reply,
    accepted: reply.code < 400
  })
  if (end.aborted !== undefined)
    return one(end.aborted === "MessageTooBig" ? Reply.messageTooBig : Reply.bareLineEnding)
  if (Result.isFailure(outcome)) return one(outcome.failure)
  const success = outcome.success
  if (Verdicts.isPerRecipient(success)) {
    if (!lmtp) return one(Verdicts.combined(success, recipients))
    const each = Verdicts.replies(success, recipients)
    return { replies: each, accepted: each.some((reply) => reply.code < 400) }
  }
  // a handler written in plain JS may return anything: only a Reply replaces the 250
  return one(success instanceof Reply.Reply ? success : Reply.accepted)
}
