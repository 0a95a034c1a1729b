// Clients of SmtpSession.run: a whole input at once (its transcript), or a conversation that
// sends, reads replies, and ends, over an in-memory byte stream.
import { Cause, Effect, Exit, Queue, Stream } from "effect"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpSession from "../../src/session/SmtpSession.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (data: string | Uint8Array) => (typeof data === "string" ? encoder.encode(data) : data)

/** The session's output for this input, one string per write. */
export const writes = (input: ReadonlyArray<string | Uint8Array>, options?: SmtpSession.Options) =>
  Stream.runCollect(SmtpSession.run(Stream.fromIterable(input.map(bytes)), options)).pipe(
    Effect.map((out) => out.map((chunk) => decoder.decode(chunk)))
  )

/** The session's output for this input, as one string. */
export const transcript = (input: ReadonlyArray<string | Uint8Array>, options?: SmtpSession.Options) =>
  Effect.map(writes(input, options), (out) => out.join(""))

/** The codes of the replies in a transcript, with their enhanced codes: `["220", "250 2.1.0"]`. */
export const codes = (text: string): ReadonlyArray<string> =>
  Array.from(text.matchAll(/^(\d{3}) (?:([245]\.\d{1,3}\.\d{1,3}) )?/gm), (m) => (m[2] ? `${m[1]} ${m[2]}` : m[1]!))

export interface Client {
  readonly send: (data: string | Uint8Array) => Effect.Effect<void>
  /** Ends the input (the client closes its side). */
  readonly end: Effect.Effect<void>
  /** The next whole reply; dies if the session ends first. */
  readonly reply: Effect.Effect<Reply.Reply>
  /** Sends a line (CRLF added) and reads its reply. */
  readonly command: (line: string) => Effect.Effect<Reply.Reply>
  /** Everything the session writes until it ends, and how it ended. */
  readonly rest: Effect.Effect<{ readonly text: string; readonly exit: Exit.Exit<void, unknown> }>
  /** Chunks sent and not yet read by the session. */
  readonly unread: Effect.Effect<number>
}

/** A session on an input the test writes as it goes; it starts with the first read. */
export const connect = (options?: SmtpSession.Options) =>
  Effect.gen(function* () {
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const pull = yield* Stream.toPull(SmtpSession.run(Stream.fromQueue(input), options))
    let unread = ""
    const more = Effect.map(pull, (chunks) => {
      for (const chunk of chunks) unread += decoder.decode(chunk)
    })
    const reply: Effect.Effect<Reply.Reply> = Effect.suspend(function next(): Effect.Effect<Reply.Reply> {
      const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(unread)
      if (match === null) return Effect.flatMap(Effect.orDie(more), next)
      unread = unread.slice(match[0].length)
      return Effect.succeed(Reply.decode(match[0]))
    })
    const rest = Effect.suspend(function loop(): Effect.Effect<{ text: string; exit: Exit.Exit<void, unknown> }> {
      return Effect.matchCauseEffect(more, {
        onSuccess: loop,
        onFailure: (cause) =>
          Effect.sync(() => {
            const text = unread
            unread = ""
            const failure = Cause.findErrorOption(cause)
            const done = failure._tag === "Some" && Cause.isDone(failure.value)
            return { text, exit: done ? Exit.void : Exit.failCause(cause) }
          })
      })
    })
    const client: Client = {
      send: (data) => Effect.asVoid(Queue.offer(input, bytes(data))),
      end: Effect.asVoid(Queue.end(input)),
      reply,
      command: (line) => Effect.andThen(Queue.offer(input, bytes(`${line}\r\n`)), reply),
      rest,
      unread: Queue.size(input)
    }
    return client
  })
