// The server's fast engine (parked and inline sessions, SmtpTest.server over TestTransport) is a
// refinement of SmtpSession.run: for any session a client may hold (pipelining, dots and bare
// line endings in DATA, AUTH, errors, input cut at any byte, a disconnect anywhere) both write
// the same bytes and make the same calls to the handler, the authenticator and user commands.
// (A session's answer to a hook that is absent runs inline, without a fiber, in the fast engine;
// connect and helo hooks and the per-session form need it: `Sessions.setup` draws which hooks
// are real and how they come, so every path is covered.)
import { describe, expect } from "@effect/vitest"
import { Effect, References } from "effect"
import { SmtpTest } from "../../src/testing/index.js"
import { itLiveProp } from "../utils/property.js"
import { writes } from "./client.js"
import * as Sessions from "./sessions.js"

const peer = { address: "192.0.2.1", port: 40000 }
const local = { address: "192.0.2.25", port: 25 }

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
