// Postfix's own test tools against issue 14's protocol: smtp-source speaking LMTP (-L) to an LMTP
// server of ours, and a message that came in BDAT chunks with DSN parameters relayed into
// smtp-sink (which offers DSN but not CHUNKING: the relay sends it with DATA, the parameters on).
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Ref, Stream } from "effect"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Relay from "../../src/handlers/Relay.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { runProcess } from "../utils/process.js"
import { skipWithout } from "../utils/tools.js"
import { smtpSink } from "../utils/upstreams.js"

const serve = <E>(options: NodeSmtpServer.Options, handler: Layer.Layer<MessageHandler.MessageHandler, E>) =>
  Effect.map(
    Layer.build(
      NodeSmtpServer.layer({ listen: ["127.0.0.1:0"], shutdownGrace: 0, ...options }).pipe(Layer.provide(handler))
    ),
    (context) => Context.get(context, SmtpServer).addresses[0]!
  )

const encoder = new TextEncoder()

describe.skipIf(skipWithout("postfix"))("Postfix's tools", () => {
  it.live("smtp-source -L: 60 LMTP transactions of 3 recipients, each answered per recipient", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      const server = yield* serve(
        { lmtp: true },
        MessageHandler.layer({
          data: (session, message) =>
            Effect.andThen(
              Stream.runDrain(message.body),
              Ref.update(seen, (all) => [...all, message.envelope.recipients.length])
            ).pipe(Effect.tap(() => Effect.sync(() => expect(session.protocol).toBe("lmtp"))))
        })
      )
      const source = yield* runProcess("/usr/sbin/smtp-source", [
        "-L",
        "-s",
        "4",
        "-m",
        "60",
        "-r",
        "3",
        "-l",
        "4096",
        "-f",
        "from@example.com",
        "-t",
        "to@example.com",
        `${server.address}:${server.port}`
      ])
      // smtp-source reads one reply per recipient after the data: one missing would hang it,
      // one too many would be read as the reply to its next command
      expect(source.stderr).toBe("")
      expect(source.exitCode).toBe(0)
      const counts = yield* Ref.get(seen)
      expect(counts).toHaveLength(60)
      expect(new Set(counts)).toEqual(new Set([3]))
    })
  )

  it.live("a BDAT message with DSN parameters relayed into smtp-sink arrives whole, the parameters with it", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink()
      const relay = yield* serve(
        {},
        Relay.layer({ upstream: { host: sink.host, port: sink.port, startTls: "off" }, received: false }).pipe(
          Layer.provide(NodeSmtpClient.layer)
        )
      )
      const client = yield* SmtpClient.SmtpClient
      const connection = yield* client.connect({
        host: relay.address,
        port: relay.port,
        startTls: "off",
        chunkSize: 1000
      })
      expect(connection.extensions.has("CHUNKING")).toBe(true)
      const body = "Subject: chunks\r\n\r\n" + ".leading dot\r\n".repeat(200) + "end\r\n"
      const result = yield* connection.send(
        {
          mailFrom: "s@example.com",
          mailParameters: [
            { keyword: "RET", value: "HDRS" },
            { keyword: "ENVID", value: "QQ+2B1" }
          ],
          recipients: [{ address: "a@example.com", parameters: [{ keyword: "NOTIFY", value: "SUCCESS,FAILURE" }] }]
        },
        Stream.make(encoder.encode(body))
      )
      expect(result.accepted).toEqual(["a@example.com"])
      const dump = yield* sink.dump(1)
      expect(dump).toContain("X-Mail-Args: <s@example.com> RET=HDRS ENVID=QQ+2B1\n")
      expect(dump).toContain("X-Rcpt-Args: <a@example.com> NOTIFY=SUCCESS,FAILURE\n")
      // the relay dot-stuffed what BDAT carried as it was; smtp-sink unstuffed it
      expect(dump).toContain(("X-Peer: 127.0.0.1\r\n" + body).replaceAll("\r\n", "\n"))
    }).pipe(Effect.provide(NodeSmtpClient.layer))
  )

  it.live("a BINARYMIME message cannot go to smtp-sink (no CHUNKING): 554 5.6.3 to the client, nothing sent", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink()
      const relay = yield* serve(
        {},
        Relay.layer({ upstream: { host: sink.host, port: sink.port, startTls: "off" } }).pipe(
          Layer.provide(NodeSmtpClient.layer)
        )
      )
      const client = yield* SmtpClient.SmtpClient
      const connection = yield* client.connect({ host: relay.address, port: relay.port, startTls: "off" })
      const refused = yield* Effect.flip(connection.mail("s@example.com", [{ keyword: "BODY", value: "BINARYMIME" }]))
      expect(refused._tag).toBe("UpstreamRefused")
      expect(refused._tag === "UpstreamRefused" && [refused.reply.code, refused.reply.enhanced]).toEqual([554, "5.6.3"])
    }).pipe(Effect.provide(NodeSmtpClient.layer))
  )
})
