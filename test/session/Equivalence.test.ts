// The server's fast engine (parked and inline sessions, SmtpTest.server over TestTransport) is a
// refinement of SmtpSession.run: for any session a client may hold (pipelining, dots and bare
// line endings in DATA, AUTH, errors, input cut at any byte, a disconnect anywhere) both write
// the same bytes and make the same calls to the handler, the authenticator and user commands.
// (A session's answer to a hook that is absent runs inline, without a fiber, in the fast engine;
// connect and helo hooks and the per-session form need it: `Sessions.setup` draws which hooks
// are real and how they come, so every path is covered.)
import { describe, expect } from "@effect/vitest"
import { Effect, Fiber, References } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { SmtpTest } from "../../src/testing/index.js"
import { itLiveProp } from "../utils/property.js"
import { connect, writes } from "./client.js"
import * as TestTransport from "../../src/testing/TestTransport.js"
import * as Sessions from "./sessions.js"

// the addresses the in-memory server's clients have
const peer = TestTransport.defaultRemote
const local = TestTransport.defaultLocal

const fast = (chunks: ReadonlyArray<Uint8Array>, options: Sessions.OptionsValue, setup: Sessions.Setup) => {
  const recorded = Sessions.handler(setup)
  return Effect.gen(function* () {
    const server = yield* SmtpTest.server(Sessions.common(options))
    const client = yield* server.connect
    // the greeting first: a client that talks before it is refused, and the stream cannot tell
    yield* client.reply
    for (const chunk of chunks) yield* client.send(chunk)
    yield* client.end
    yield* client.awaitClose
    return { output: yield* client.output, writes: yield* client.writes, calls: recorded.calls() }
  }).pipe(Effect.scoped, Effect.provide(recorded.layer))
}

const reference = (chunks: ReadonlyArray<Uint8Array>, options: Sessions.OptionsValue, setup: Sessions.Setup) => {
  const recorded = Sessions.handler(setup)
  return writes(chunks, { ...Sessions.common(options), peer, local }).pipe(
    Effect.map((out) => ({ output: out.join(""), writes: out.length, calls: recorded.calls() })),
    Effect.provide(recorded.layer)
  )
}

describe("SmtpSession.run and the server's fast engine", () => {
  itLiveProp(
    "write the same replies and make the same calls",
    { chunks: Sessions.input, options: Sessions.options, setup: Sessions.setup },
    ({ chunks, options, setup }) =>
      Effect.gen(function* () {
        const expected = yield* fast(chunks, options, setup)
        const actual = yield* reference(chunks, options, setup)
        expect(actual.output).toBe(expected.output)
        expect(actual.calls).toEqual(expected.calls)
        // and batch them alike, but for one shortcut of the fast engine: with no data hook, a
        // message that ends in the chunk holding its DATA gets 354 and 250 in one write (the
        // reference, like the engine's fiber, writes the 354 before it reads the body)
        if (setup.data) expect(actual.writes).toBe(expected.writes)
      }).pipe(Effect.provideService(References.MinimumLogLevel, "None")),
    { fastCheck: { numRuns: 1000 } }
  )
})

// The same sessions trickled in on TestClock, 0 to 40 s between chunks, with a command
// deadline of 30 s: both engines cut the same line at the same point (DATA's minimum rate is
// off here: only the deadline and the idle timeout are timed)
const timed = (options: Sessions.OptionsValue) =>
  ({ ...Sessions.common(options), commandDeadline: "30 seconds", minDataRate: 0 }) as const
const gaps = fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 30 })

const fastTimed = (
  chunks: ReadonlyArray<Uint8Array>,
  pauses: ReadonlyArray<number>,
  options: Sessions.OptionsValue,
  setup: Sessions.Setup
) => {
  const recorded = Sessions.handler(setup)
  return Effect.gen(function* () {
    const client = yield* (yield* SmtpTest.server(timed(options))).connect
    yield* client.reply
    for (const [i, chunk] of chunks.entries()) {
      if (yield* client.isClosed) break
      yield* client.send(chunk)
      yield* TestClock.adjust(`${pauses[i % pauses.length]!} seconds`)
    }
    yield* client.end
    yield* client.awaitClose
    return yield* client.output
  }).pipe(Effect.scoped, Effect.provide(recorded.layer))
}

const referenceTimed = (
  chunks: ReadonlyArray<Uint8Array>,
  pauses: ReadonlyArray<number>,
  options: Sessions.OptionsValue,
  setup: Sessions.Setup
) => {
  const recorded = Sessions.handler(setup)
  return Effect.gen(function* () {
    const client = yield* connect({ ...timed(options), peer, local })
    const rest = yield* Effect.forkChild(client.rest)
    for (const [i, chunk] of chunks.entries()) {
      if (rest.pollUnsafe() !== undefined) break
      yield* client.send(chunk)
      yield* TestClock.adjust(`${pauses[i % pauses.length]!} seconds`)
    }
    yield* client.end
    const { exit, text } = yield* Fiber.join(rest)
    expect(exit._tag).toBe("Success")
    return text
  }).pipe(Effect.scoped, Effect.provide(recorded.layer))
}

describe("SmtpSession.run and the server's fast engine, trickled on TestClock", () => {
  itLiveProp(
    "cut a line at its command deadline alike",
    { chunks: Sessions.input, pauses: gaps, options: Sessions.options, setup: Sessions.setup },
    ({ chunks, options, pauses, setup }) =>
      Effect.gen(function* () {
        const expected = yield* fastTimed(chunks, pauses, options, setup)
        const actual = yield* referenceTimed(chunks, pauses, options, setup)
        expect(actual).toBe(expected)
      }).pipe(Effect.provide(TestClock.layer()), Effect.provideService(References.MinimumLogLevel, "None")),
    { fastCheck: { numRuns: 300 } }
  )
})
