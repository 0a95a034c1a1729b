// Bytes that are not text in commands: NUL and invalid UTF-8 refused, a byte-order mark no part of
// a verb, and control characters in HELO/EHLO escaped before they reach the trace.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpTest } from "../../src/testing/index.js"
import { now } from "../utils/clock.js"
import { code, command, greeted, openData } from "../utils/conversation.js"
import { logTo } from "../utils/logs.js"
import { text as latin1 } from "../utils/server.js"

describe("bytes that are not text", () => {
  it.effect("NUL bytes and invalid UTF-8 in commands get a 5xx reply, and the session goes on", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server())
      const lines: ReadonlyArray<Uint8Array> = [
        Buffer.from("\0\0\0\r\n", "latin1"),
        Buffer.from("MAIL FROM:<a\0b@example.com>\r\n", "latin1"),
        Buffer.from("EHLO a\0b\r\n", "latin1"),
        Buffer.from("EHLO \xff\xfe\r\n", "latin1"),
        Buffer.from("MAIL FROM:<\xc0\xafroot@example.com>\r\n", "latin1"),
        Buffer.from("RCPT TO:<\xed\xa0\x80@example.com>\r\n", "latin1")
      ]
      for (const line of lines) {
        yield* client.send(line)
        const reply = yield* now(client.reply)
        expect(reply.code, JSON.stringify(latin1(line))).toBeGreaterThanOrEqual(500)
        expect(reply.code).toBeLessThan(600)
        expect(code(yield* now(command(client, "NOOP")))).toBe("250 2.0.0")
      }
      // the EHLO with bad bytes did not replace the good one's session, nor start one
      yield* openData(client)
      expect(code(yield* command(client, "ok\r\n."))).toBe("250 2.0.0")
    }).pipe(Effect.provide(Recording.layer))
  )

  // Fails today: Protocol.lineText's TextDecoder strips a leading BOM (ignoreBOM is false), so
  // "\uFEFFDATA" is DATA here while a filter in front of us sees an unknown verb.
  it.effect("a byte-order mark before a verb makes no command of it: 500", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server())
      for (const verb of ["NOOP", "RSET", "MAIL FROM:<a@example.com>"]) {
        yield* client.send(Buffer.from(`\xef\xbb\xbf${verb}\r\n`, "latin1"))
        expect(code(yield* now(client.reply)), `BOM + ${verb}`).toBe("500 5.5.2")
      }
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("CR, ANSI escapes and C1 controls in HELO/EHLO appear escaped in the trace", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      const client = yield* (yield* SmtpTest.server({ trace: true })).connect
      yield* client.reply
      const evil = "EHLO evil\r<<< QUIT\x1b[2J\x1b]0;pwned\x07\u0085x\u009b31m"
      yield* client.send(Buffer.from(`${evil}\r\n`, "utf8"))
      yield* now(client.reply)
      yield* client.send("HELO a\rb\x7fc\r\n")
      yield* now(client.reply)
      const trace = lines.join("\n")
      expect(trace).toContain("<<< EHLO evil\\x0d<<< QUIT\\x1b[2J\\x1b]0;pwned\\x07\\x85x\\x9b31m")
      expect(trace).toContain("<<< HELO a\\x0db\\x7fc")
      for (const line of lines) {
        // nothing the client sent reaches the log raw; replies are ours, CRLF between their lines
        // eslint-disable-next-line no-control-regex
        const controls = line.startsWith("<<< ")
          ? /[\x00-\x1f\x7f\u0080-\u009f]/
          : /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f\u0080-\u009f]/
        expect(line, JSON.stringify(line)).not.toMatch(controls)
      }
    }).pipe(Effect.provide(Layer.merge(Recording.layer, logTo(lines))))
  })
})
