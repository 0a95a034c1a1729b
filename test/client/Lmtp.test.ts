// The client speaking LMTP (RFC 2033): LHLO without a HELO fallback, and one reply per accepted
// recipient after the content, in `send`'s Result and in `dataReplies`. Against Postfix's
// smtp-sink -L, aiosmtpd's LMTP class, and scripted fakes for refusals after the data.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { UpstreamRefused } from "../../src/client/ClientError.js"
import type * as SmtpClient from "../../src/client/SmtpClient.js"
import * as Reply from "../../src/protocol/Reply.js"
import { body, connect, envelope, quick } from "../utils/smtpClient.js"
import { skipWithout } from "../utils/tools.js"
import { type FakePeer, fakeUpstream, smtpSink } from "../utils/upstreams.js"
import { aiosmtpdLmtp } from "./lmtpServer.js"

const lhloReply = (keywords: ReadonlyArray<string>) =>
  ["fake.test", ...keywords].map((line, i, all) => `250${i === all.length - 1 ? " " : "-"}${line}\r\n`).join("")

// an LMTP server that refuses b@ at RCPT and full@ after the data, each after a pipelined envelope
const lmtpFake = (keywords: ReadonlyArray<string>, end: (peer: FakePeer) => Effect.Effect<unknown, any>) =>
  fakeUpstream((peer) =>
    Effect.gen(function* () {
      yield* peer.send("220 fake.test LMTP\r\n")
      expect(yield* peer.line).toBe("LHLO client.test")
      yield* peer.send(lhloReply(["PIPELINING", "ENHANCEDSTATUSCODES", ...keywords]))
      yield* end(peer)
    })
  )
const threeReplies =
  "250 2.0.0 <a@example.com> delivered\r\n452 4.2.2 <full@example.com> mailbox full\r\n" +
  "250 2.0.0 <c@example.com> delivered\r\n"

describe("SmtpClient speaking LMTP", () => {
  it.live("a refusal after the data is that recipient's: accepted, refused and reply in RCPT order", () =>
    Effect.gen(function* () {
      const fake = yield* lmtpFake([], (peer) =>
        Effect.gen(function* () {
          yield* peer.until("DATA\r\n")
          yield* peer.send(
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <b@example.com> unknown\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" +
              "354 Go ahead\r\n"
          )
          yield* peer.until("\r\n.\r\n")
          yield* peer.send(threeReplies)
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, lmtp: true, heloName: "client.test" })
      const result = yield* connection.send(
        envelope("s@example.com", "a@example.com", "b@example.com", "full@example.com", "c@example.com"),
        body("Subject: lmtp\r\n\r\nhi\r\n")
      )
      expect(result.accepted).toEqual(["a@example.com", "c@example.com"])
      expect(result.refused).toEqual([
        { address: "b@example.com", reply: Reply.make(550, "5.1.1", "<b@example.com> unknown") },
        { address: "full@example.com", reply: Reply.make(452, "4.2.2", "<full@example.com> mailbox full") }
      ])
      expect(result.reply).toEqual(Reply.make(250, "2.0.0", "<a@example.com> delivered"))
    })
  )

  it.live("step by step over BDAT: dataReplies gives each recipient's, data fails on a refusal", () =>
    Effect.gen(function* () {
      const fake = yield* lmtpFake(["CHUNKING"], (peer) =>
        Effect.gen(function* () {
          for (let round = 0; round < 2; round++) {
            for (const reply of ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok"]) {
              yield* peer.line
              yield* peer.send(`${reply}\r\n`)
            }
            yield* peer.until("BDAT 3 LAST\r\nhi\n")
            yield* peer.send(threeReplies)
          }
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, lmtp: true, heloName: "client.test" })
      const steps = <A, E>(run: (connection: SmtpClient.Connection) => Effect.Effect<A, E>) =>
        Effect.gen(function* () {
          yield* connection.mail("s@example.com")
          for (const to of ["a@example.com", "full@example.com", "c@example.com"]) yield* connection.rcpt(to)
          return yield* run(connection)
        })
      expect(yield* steps((c) => c.dataReplies(body("hi\n")))).toEqual([
        { address: "a@example.com", reply: Reply.make(250, "2.0.0", "<a@example.com> delivered") },
        { address: "full@example.com", reply: Reply.make(452, "4.2.2", "<full@example.com> mailbox full") },
        { address: "c@example.com", reply: Reply.make(250, "2.0.0", "<c@example.com> delivered") }
      ])
      const error = yield* Effect.flip(steps((c) => c.data(body("hi\n"))))
      assert.instanceOf(error, UpstreamRefused)
      expect(error.reply.code).toBe(452)
    })
  )

  it.live("every recipient refused after the data: a Result with none accepted and the first refusal", () =>
    Effect.gen(function* () {
      const fake = yield* lmtpFake([], (peer) =>
        Effect.gen(function* () {
          yield* peer.until("DATA\r\n")
          yield* peer.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n")
          yield* peer.until("\r\n.\r\n")
          yield* peer.send("452 4.2.2 Full\r\n550 5.2.1 Disabled\r\n")
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, lmtp: true, heloName: "client.test" })
      const result = yield* connection.send(envelope("s@example.com", "a@example.com", "b@example.com"), body("x\r\n"))
      expect(result.accepted).toEqual([])
      expect(result.reply).toEqual(Reply.make(452, "4.2.2", "Full"))
      expect(result.refused.map((r) => [r.address, r.reply.code])).toEqual([
        ["a@example.com", 452],
        ["b@example.com", 550]
      ])
    })
  )

  it.live("LHLO refused: UpstreamRefused, and no HELO", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* peer.send("220 smtp-only.test ESMTP\r\n")
          yield* peer.line
          yield* peer.send("500 5.5.2 Unknown command\r\n")
        })
      )
      const error = yield* Effect.flip(connect({ host: fake.host, port: fake.port, lmtp: true, timeouts: quick })).pipe(
        Effect.scoped
      )
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("LHLO")
      expect(yield* fake.received).toEqual(["LHLO localhost\r\nQUIT\r\n"])
    })
  )

  it.live.skipIf(skipWithout("postfix"))("Postfix's smtp-sink -L: one reply per recipient, all delivered", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink(["-L"])
      const connection = yield* connect({ host: sink.host, port: sink.port, lmtp: true, heloName: "client.test" })
      const result = yield* connection.send(
        envelope("s@example.com", "a@example.com", "b@example.com", "c@example.com"),
        body("Subject: lmtp\r\n\r\nto three\r\n")
      )
      expect(result.accepted).toEqual(["a@example.com", "b@example.com", "c@example.com"])
      expect(result.refused).toEqual([])
      // the next transaction is in step: three replies were read, no more
      yield* connection.mail("s@example.com")
      yield* connection.rcpt("d@example.com")
      const replies = yield* connection.dataReplies(body("again\r\n"))
      expect(replies.map((r) => [r.address, r.reply.code])).toEqual([["d@example.com", 250]])
      const dump = yield* sink.dump(2)
      expect(dump).toContain("X-Helo-Args: client.test\n")
      expect(dump.match(/^X-Rcpt-Args: .*$/gm)).toHaveLength(4)
    })
  )

  it.live.skipIf(skipWithout("aiosmtpd"))(
    "aiosmtpd's LMTP: a recipient refused after the data, the others delivered",
    () =>
      Effect.gen(function* () {
        const server = yield* aiosmtpdLmtp
        const connection = yield* connect({ host: server.host, port: server.port, lmtp: true })
        const result = yield* connection.send(
          envelope("s@example.com", "a@example.com", "refuse@example.com", "full@example.com", "c@example.com"),
          body("Subject: lmtp\r\n\r\nhi\r\n")
        )
        expect(result.accepted).toEqual(["a@example.com", "c@example.com"])
        expect(result.refused).toEqual([
          { address: "refuse@example.com", reply: Reply.make(550, "5.1.1", "No such user") },
          { address: "full@example.com", reply: Reply.make(452, "4.2.2", "Mailbox full") }
        ])
        expect(result.reply).toEqual(Reply.make(250, "2.0.0", "Delivered to a@example.com"))
        expect(yield* server.lhlo).toBe("localhost")
      })
  )
})
