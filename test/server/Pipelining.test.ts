// Talking out of turn: early talkers (before the greeting) and unauthorized pipelining (after
// HELO, or past a command that must end its group) get 554 5.5.0 and the close.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpTest } from "../../src/testing/index.js"
import { now } from "../utils/clock.js"
import { code, command, greeted } from "../utils/conversation.js"

describe("talking out of turn", () => {
  it.effect("an early talker (a command queued before the greeting) gets 554 5.5.0 and the close, no greeting", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      // the session fiber has not run yet: this is in its input before it can greet
      const client = yield* server.connect
      yield* client.send("EHLO early.test\r\n")
      expect((yield* now(client.reply)).code).toBe(554)
      yield* client.awaitClose
      expect(yield* client.output).toMatch(/^554 [^\r\n]*\r\n$/)

      const tolerant = yield* SmtpTest.server({ forbidUnauthPipelining: false })
      const patient = yield* tolerant.connect
      yield* patient.send("EHLO early.test\r\n")
      expect((yield* patient.replies(2)).map((r) => r.code)).toEqual([220, 250])
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("pipelining after HELO, or after a command that must end a group, gets 554 5.5.0 and the close", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const helo = yield* server.connect
      yield* helo.reply
      yield* helo.send("HELO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
      // the HELO itself is refused: it had company
      expect((yield* now(helo.reply)).code).toBe(554)
      yield* helo.awaitClose

      const noop = yield* greeted(server)
      yield* noop.send("NOOP\r\nMAIL FROM:<a@example.com>\r\n")
      expect(code(yield* noop.reply)).toBe("554 5.5.0")
      yield* noop.awaitClose

      // after EHLO (which offered PIPELINING) a batch that ends with DATA is fine
      const ok = yield* greeted(server)
      yield* ok.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
      expect((yield* ok.replies(3)).map(code)).toEqual(["250 2.1.0", "250 2.1.5", "354"])
      // (a session left in DATA would hold the shutdown for its grace period, on the TestClock)
      expect(code(yield* now(command(ok, "body\r\n.")))).toBe("250 2.0.0")
    }).pipe(Effect.provide(Recording.layer))
  )
})
