// SMTP smuggling (CVE-2023-51764 family): only CRLF.CRLF ends DATA; the other line endings some
// server might take for the end stay in the body (normalize, pass) or refuse it (reject).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpTest } from "../../src/testing/index.js"
import { now } from "../utils/clock.js"
import { code, command, greeted, openData } from "../utils/conversation.js"
import { text as latin1 } from "../utils/server.js"

describe("SMTP smuggling", () => {
  // each a line ending some server might take for the end of DATA; only CRLF.CRLF is one
  const vectors = ["\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r.\n"]
  const hidden =
    "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nhidden text\r\n"
  const message = (vector: string) => `Subject: first\r\n\r\nhello${vector}${hidden}.\r\n`

  for (const vector of vectors) {
    const name = JSON.stringify(vector)
    for (const mode of ["normalize", "pass"] as const) {
      it.effect(`${name} with bareLineEndings ${mode}: one message, the hidden commands in its body`, () =>
        Effect.gen(function* () {
          const client = yield* greeted(yield* SmtpTest.server({ bareLineEndings: mode }))
          yield* openData(client)
          yield* client.send(message(vector))
          expect(code(yield* now(client.reply))).toBe("250 2.0.0")
          // a smuggled MAIL would be answered 250 2.1.0 here, before the 221
          expect(code(yield* now(command(client, "QUIT")))).toBe("221 2.0.0")
          const deliveries = yield* Recording.deliveries
          expect(deliveries).toHaveLength(1)
          expect(deliveries[0]!.rcptTos).toEqual(["b@example.com"])
          const body = latin1(deliveries[0]!.data)
          expect(body).toContain("MAIL FROM:<evil@attacker.test>")
          expect(body).toContain("hidden text")
          // normalized: no line ending is left that another server could read differently
          if (mode === "normalize") expect(body.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/)
        }).pipe(Effect.provide(Recording.layer))
      )
    }

    it.effect(`${name} with bareLineEndings reject: 550 5.6.11, nothing stored, no smuggled command`, () =>
      Effect.gen(function* () {
        const client = yield* greeted(yield* SmtpTest.server({ bareLineEndings: "reject" }))
        yield* openData(client)
        yield* client.send(message(vector))
        expect(code(yield* now(client.reply))).toBe("550 5.6.11")
        expect(code(yield* now(command(client, "QUIT")))).toBe("221 2.0.0")
        expect(yield* Recording.deliveries).toHaveLength(0)
      }).pipe(Effect.provide(Recording.layer))
    )
  }

  it.effect("the vectors split across writes at every byte change nothing", () =>
    Effect.gen(function* () {
      for (const vector of vectors) {
        const text = message(vector)
        for (let cut = 1; cut < text.length; cut += 7) {
          const client = yield* greeted(yield* SmtpTest.server())
          yield* openData(client)
          yield* client.send(text.slice(0, cut))
          yield* client.send(text.slice(cut))
          expect(code(yield* now(client.reply))).toBe("250 2.0.0")
          expect(code(yield* now(command(client, "QUIT")))).toBe("221 2.0.0")
        }
      }
      const deliveries = yield* Recording.deliveries
      expect(new Set(deliveries.map((d) => latin1(d.data).includes("hidden text")))).toEqual(new Set([true]))
    }).pipe(Effect.provide(Recording.layer))
  )
})

describe("bare line endings in commands", () => {
  const twoInOne = "RCPT TO:<a@x.example>\nRCPT TO:<b@y.example>\r\n"

  it.effect("under reject, a command line with a lone LF gets 500 5.5.2 and runs nothing of it", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ bareLineEndings: "reject" }))
      expect(code(yield* command(client, "MAIL FROM:<s@example.com>"))).toBe("250 2.1.0")
      yield* client.send(twoInOne)
      expect(code(yield* now(client.reply))).toBe("500 5.5.2")
      // neither recipient was taken
      expect(code(yield* command(client, "DATA"))).toBe("554 5.5.1")
      expect(code(yield* command(client, "HELP x\rNOOP"))).toBe("500 5.5.2")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("by default (normalize) a lone LF ends a command, as in Postfix", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server())
      expect(code(yield* command(client, "MAIL FROM:<s@example.com>"))).toBe("250 2.1.0")
      yield* client.send(twoInOne)
      expect((yield* client.replies(2)).map(code)).toEqual(["250 2.1.5", "250 2.1.5"])
    }).pipe(Effect.provide(Recording.layer))
  )
})
