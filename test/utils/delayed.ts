// A reply that must wait its delay on TestClock: nothing is written a millisecond before it.
import { assert, expect } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import type * as Reply from "../../src/protocol/Reply.js"
import type { TestClient } from "../../src/testing/TestTransport.js"

/** Sends `line` and returns its reply, which must come exactly after `delayMs` (1 s by default). */
export const delayedReply = (client: TestClient, line: string, delayMs = 1000): Effect.Effect<Reply.Reply> =>
  Effect.gen(function* () {
    const before = yield* client.output
    yield* client.send(`${line}\r\n`)
    const reply = yield* Effect.forkChild(client.reply)
    yield* TestClock.adjust(`${delayMs - 1} millis`)
    expect(yield* client.output).toBe(before)
    assert(reply.pollUnsafe() === undefined, `${line} answered before its delay`)
    yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(reply)
  })
