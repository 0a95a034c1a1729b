// The SMTP client against Postfix's smtp-sink (skipped without Postfix): a pipelined message
// dumped as sent, and refusals at RCPT and after the final dot.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { UpstreamRefused } from "../../src/client/ClientError.js"
import * as Reply from "../../src/protocol/Reply.js"
import { body, connect, eightBitMime, envelope } from "../utils/smtpClient.js"
import { skipWithout } from "../utils/tools.js"
import { smtpSink } from "../utils/upstreams.js"

describe.skipIf(skipWithout("postfix"))("SmtpClient against Postfix's smtp-sink", () => {
  it.live("a pipelined message to three recipients is accepted and dumped", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink()
      const connection = yield* connect({ host: sink.host, port: sink.port, heloName: "client.test" })
      expect(connection.extensions.has("PIPELINING")).toBe(true)
      const result = yield* connection.send(
        {
          ...envelope("s@example.com", "a@example.com", "b@example.com", "c@example.com"),
          mailParameters: eightBitMime
        },
        body("Subject: sink\r\n\r\n.dot\r\nend")
      )
      expect(result.reply.code).toBe(250)
      expect(result.accepted).toEqual(["a@example.com", "b@example.com", "c@example.com"])
      const dump = yield* sink.dump(1)
      expect(dump).toContain("X-Helo-Args: client.test\n")
      expect(dump).toContain("X-Mail-Args: <s@example.com> BODY=8BITMIME\n")
      expect(dump.match(/^X-Rcpt-Args: .*$/gm)).toEqual([
        "X-Rcpt-Args: <a@example.com>",
        "X-Rcpt-Args: <b@example.com>",
        "X-Rcpt-Args: <c@example.com>"
      ])
      expect(dump).toContain("\nSubject: sink\n\n.dot\nend\n")
    })
  )

  it.live("every RCPT refused with 450 (and no PIPELINING): UpstreamRefused with the 450", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink(["-r", "RCPT"])
      const connection = yield* connect({ host: sink.host, port: sink.port })
      expect(connection.extensions.has("PIPELINING")).toBe(false)
      const error = yield* Effect.flip(connection.send(envelope("s@example.com", "a@example.com"), body("x\r\n")))
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("RCPT")
      expect(error.reply).toEqual(Reply.make(450, "4.3.0", "Error: command failed"))
    })
  )

  it.live("a message refused after the final dot: UpstreamRefused with the server's reply", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink(["-f", "."])
      const connection = yield* connect({ host: sink.host, port: sink.port })
      const error = yield* Effect.flip(connection.send(envelope("s@example.com", "a@example.com"), body("x\r\n")))
      assert.instanceOf(error, UpstreamRefused)
      expect(error.reply).toEqual(Reply.make(500, "5.3.0", "Error: command failed"))
      // the reply to the final dot, not to the DATA command
      expect(error.command).toBe("end of data")
    })
  )
})
