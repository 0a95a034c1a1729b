/**
 * A message's content on the wire, once its envelope is accepted: after DATA's 354, dot-stuffed
 * (RFC 5321 §4.5.2), or in BDAT chunks (RFC 3030), byte for byte, each built as the body streams
 * in and bounded in size. Both leave the replies to the end of the content to `endReplies`.
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as DataEncoder from "../protocol/DataEncoder.js"
import type * as Reply from "../protocol/Reply.js"
import { type ClientError, UpstreamUnsupported } from "./ClientError.js"
import type * as Conversation from "./Conversation.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Settings {
  readonly talk: Conversation.Conversation
  /** The upstream takes bytes over 127 (8BITMIME, or a BINARYMIME message). */
  readonly eightBit: boolean
  /** BDAT: send the next chunk before the reply to the one before it (RFC 3030 §4.2). */
  readonly pipelining: boolean
  /** Each write; with BDAT also the reply to each chunk but the last. */
  readonly block: Duration.Duration
  /** RSET after a refused chunk. */
  readonly command: Duration.Duration
  /** The largest BDAT chunk. */
  readonly chunkSize: number
}

/**
 * The largest BDAT chunk the client sends: a bound on what it holds of a body.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultChunkSize = 64 * 1024

const eightBitRefused = new UpstreamUnsupported({ extension: "8BITMIME" })

// a body cut short (failed, or interrupted) leaves the server inside DATA or BDAT: no QUIT
const abandonUnless =
  (talk: Conversation.Conversation, inStep: () => boolean) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.tapError(() => (inStep() ? Effect.void : talk.abandon)),
      Effect.onInterrupt(() => talk.abandon)
    )

/**
 * The content after DATA's 354, dot-stuffed, every line ending CRLF, then `CRLF.CRLF`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const stuffed = <E, R>(
  settings: Settings,
  content: Stream.Stream<Uint8Array, E, R>
): Effect.Effect<void, ClientError | E, R> =>
  Effect.suspend(() => {
    const { talk } = settings
    const encoder = DataEncoder.make()
    return Stream.runForEach(content, (chunk): Effect.Effect<void, ClientError> =>
      !settings.eightBit && DataEncoder.hasEightBit(chunk)
        ? Effect.fail(eightBitRefused)
        : talk.write(encoder.encode(chunk), settings.block)
    ).pipe(
      abandonUnless(talk, () => false),
      Effect.andThen(Effect.suspend(() => talk.write(encoder.end(), settings.block)))
    )
  })

// room before a chunk's bytes for its command line ("BDAT 65536 LAST\r\n" is 17 bytes)
const headroom = 32

/**
 * The content in BDAT chunks of at most `chunkSize` bytes, as it is: the last with `LAST`, which
 * is `BDAT 0 LAST` when the body ended on a chunk's edge. A refused chunk fails the transaction
 * (RFC 3030 §2) with `UpstreamRefused`, after the reply to a chunk already sent behind it and an
 * RSET: the connection can go on. The reply to the last chunk is left to read.
 *
 * @since 0.2.0
 * @category combinators
 */
export const chunked = <E, R>(
  settings: Settings,
  content: Stream.Stream<Uint8Array, E, R>
): Effect.Effect<void, ClientError | E, R> =>
  Effect.suspend(() => {
    const { talk, chunkSize } = settings
    // a chunk's buffer: a new one after each write, since the socket may still hold the bytes
    // written (a write returns before they are sent; past its high-water mark the next waits)
    let buffer = new Uint8Array(headroom + chunkSize)
    let filled = 0
    let owed = 0 // replies to chunks sent and not read yet: one at most, with PIPELINING
    let settled = false // a refusal read in step: the connection is usable

    const refuse = (reply: Reply.Reply) =>
      Effect.gen(function* () {
        for (; owed > 0; owed--) yield* talk.read(settings.block)
        yield* Effect.ignore(talk.expect("RSET\r\n", settings.command, 250))
        settled = true
        return yield* talk.refusal("BDAT", reply)
      })
    // reads the replies owed beyond `keep`
    const settle = (keep: number): Effect.Effect<void, ClientError> =>
      owed <= keep
        ? Effect.void
        : Effect.flatMap(talk.read(settings.block), (reply) => {
            owed--
            return reply.code === 250 ? settle(keep) : refuse(reply)
          })
    const flush = (last: boolean) =>
      Effect.gen(function* () {
        const header = `BDAT ${filled}${last ? " LAST" : ""}\r\n`
        const start = headroom - header.length
        for (let i = 0; i < header.length; i++) buffer[start + i] = header.charCodeAt(i)
        // the last chunk waits for every other reply: its own (one per recipient with LMTP) follow
        if (last) yield* settle(0)
        yield* talk.write(buffer.subarray(start, headroom + filled), settings.block)
        filled = 0
        if (!last) buffer = new Uint8Array(headroom + chunkSize)
        if (last) return
        owed++
        yield* settle(settings.pipelining ? 1 : 0)
      })
    const fill = (chunk: Uint8Array, offset: number): Effect.Effect<void, ClientError> => {
      while (offset < chunk.length) {
        const size = Math.min(chunkSize - filled, chunk.length - offset)
        buffer.set(chunk.subarray(offset, offset + size), headroom + filled)
        filled += size
        offset += size
        if (filled === chunkSize) {
          const next = offset
          return Effect.andThen(
            flush(false),
            Effect.suspend(() => fill(chunk, next))
          )
        }
      }
      return Effect.void
    }
    return Stream.runForEach(content, (chunk) =>
      !settings.eightBit && DataEncoder.hasEightBit(chunk) ? Effect.fail(eightBitRefused) : fill(chunk, 0)
    ).pipe(
      Effect.andThen(Effect.suspend(() => flush(true))),
      abandonUnless(talk, () => settled)
    )
  })

/**
 * The replies to the end of the content: one for SMTP, one per accepted recipient for LMTP
 * (RFC 2033 §4.2), each within `timeout`. Each is a completion (2xx) or a refusal (4xx/5xx);
 * anything else breaks the protocol.
 *
 * @since 0.2.0
 * @category combinators
 */
export const endReplies = (
  talk: Conversation.Conversation,
  count: number,
  timeout: Duration.Duration
): Effect.Effect<ReadonlyArray<Reply.Reply>, ClientError> =>
  Effect.gen(function* () {
    const replies: Array<Reply.Reply> = []
    for (let i = 0; i < count; i++) {
      const reply = yield* talk.read(timeout)
      if (reply.code < 200 || (reply.code >= 300 && reply.code < 400)) {
        return yield* talk.refusal("end of data", reply)
      }
      replies.push(reply)
    }
    return replies
  })
