// STARTTLS misuse against an in-memory session: arguments, a second STARTTLS, commands injected
// behind it (CVE-2011-0411), and requireTls refusing mail before TLS.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpTest } from "../../src/testing/index.js"
import { code, command, greeted, openData } from "../utils/conversation.js"

describe("STARTTLS", () => {
  it.effect("with an argument: 501; twice: 503", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ startTls: true }))
      expect((yield* command(client, "STARTTLS now")).code).toBe(501)
      expect(code(yield* command(client, "STARTTLS"))).toBe("220 2.0.0")
      expect((yield* command(client, "EHLO client.test")).code).toBe(250)
      expect(code(yield* command(client, "STARTTLS"))).toBe("503 5.5.1")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("injection: commands sent with STARTTLS are dropped, and the session starts over after the handshake", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ startTls: true }))
      yield* client.send("STARTTLS\r\nNOOP\r\n")
      expect(code(yield* client.reply)).toBe("220 2.0.0")
      // the NOOP got no reply (this would be its 250) and the EHLO before TLS is forgotten
      // (503 without an enhanced code: no EHLO on this side of TLS)
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("503")
      const ehlo = yield* command(client, "EHLO client.test")
      expect(ehlo.lines).not.toContain("STARTTLS")
      expect(yield* client.output).not.toMatch(/220 2\.0\.0 Ready to start TLS\r\n250 /)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("injection of a transaction (CVE-2011-0411): the MAIL and RCPT sent in the clear never count", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ startTls: true }))
      yield* client.send("STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\n")
      expect(code(yield* client.reply)).toBe("220 2.0.0")
      expect((yield* command(client, "EHLO client.test")).code).toBe(250)
      // a transaction left over from before TLS would make this 503 (nested MAIL)
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
      expect(code(yield* command(client, "DATA"))).toBe("554 5.5.1")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("requireTls: MAIL before TLS gets 530 5.7.0; EHLO, NOOP, RSET and QUIT are allowed", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ startTls: true, requireTls: true })
      const client = yield* greeted(server)
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("530 5.7.0")
      expect(code(yield* command(client, "RCPT TO:<b@example.com>"))).toBe("530 5.7.0")
      expect(code(yield* command(client, "VRFY root"))).toBe("530 5.7.0")
      expect(code(yield* command(client, "NOOP"))).toBe("250 2.0.0")
      expect(code(yield* command(client, "RSET"))).toBe("250 2.0.0")
      expect((yield* command(client, "EHLO again.test")).code).toBe(250)
      expect(code(yield* command(client, "QUIT"))).toBe("221 2.0.0")
      yield* client.awaitClose

      const secured = yield* greeted(server)
      expect(code(yield* command(secured, "STARTTLS"))).toBe("220 2.0.0")
      expect((yield* command(secured, "EHLO client.test")).code).toBe(250)
      yield* openData(secured)
      expect(code(yield* command(secured, "hello\r\n."))).toBe("250 2.0.0")
      expect(yield* Recording.deliveries).toHaveLength(1)
    }).pipe(Effect.provide(Recording.layer))
  )
})
