// Idle and slow clients on TestClock: the idle timeout, and the minimum data rate after its grace.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpTest } from "../../src/testing/index.js"
import { now } from "../utils/clock.js"
import { code, command, greeted, openData } from "../utils/conversation.js"

describe("slow and silent clients", () => {
  it.effect("idle timeout: 421 4.4.2 after 300 silent seconds; each command restarts it", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server())
      yield* TestClock.adjust("200 seconds")
      expect(code(yield* command(client, "NOOP"))).toBe("250 2.0.0")
      yield* TestClock.adjust("299 seconds")
      expect(yield* client.isClosed).toBe(false)
      yield* TestClock.adjust("2 seconds")
      expect(code(yield* now(client.reply))).toBe("421 4.4.2")
      yield* client.awaitClose
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("slow DATA: 10 bytes every 10 s gets 421 4.4.2 once the grace is over; nothing stored or read after", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ minDataRate: 500, dataRateGrace: "30 seconds" }))
      yield* openData(client)
      let seconds = 0
      while (!(yield* client.isClosed) && seconds < 120) {
        yield* client.send("x".repeat(8) + "\r\n")
        yield* TestClock.adjust("10 seconds")
        seconds += 10
      }
      // 30 seconds of grace, and a few milliseconds for the bytes sent
      expect(seconds).toBe(40)
      const output = yield* client.output
      expect(output).toMatch(/421 4\.4\.2 [^\r\n]*data too slow[^\r\n]*\r\n$/)
      yield* client.send("\r\n.\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n")
      yield* TestClock.adjust("1 second")
      expect(yield* client.output).toBe(output)
      expect(yield* Recording.deliveries).toHaveLength(0)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("DATA at 1000 B/s for 60 s, and a client silent through the grace then fast, are never hit", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ minDataRate: 500, dataRateGrace: "30 seconds" }))
      yield* openData(client)
      for (let i = 0; i < 60; i++) {
        yield* client.send("y".repeat(998) + "\r\n")
        yield* TestClock.adjust("1 second")
      }
      expect(code(yield* now(command(client, ".")))).toBe("250 2.0.0")

      yield* openData(client)
      yield* TestClock.adjust("29 seconds")
      yield* client.send("z".repeat(100_000) + "\r\n")
      yield* TestClock.adjust("100 seconds")
      expect(yield* client.isClosed).toBe(false)
      expect(code(yield* now(command(client, ".")))).toBe("250 2.0.0")
      expect((yield* Recording.deliveries).map((d) => d.data.length)).toEqual([60_000, 100_002])
    }).pipe(Effect.provide(Recording.layer))
  )
})
