/**
 * DATA against BDAT (RFC 3030) for the same 4 KiB message on an open in-memory connection: with
 * the Sink (the content drained inline) and with a handler that reads the body as a stream (the
 * session's fiber). messages/s = hz. Not tests: `npm run bench:micro`.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { afterAll, test } from "vitest"
import * as MessageHandler from "../handler/MessageHandler.js"
import * as Sink from "../handlers/Sink.js"
import * as SmtpTest from "./SmtpTest.js"
import type * as TestTransport from "./TestTransport.js"

const body = "Subject: benchmark\r\n" + `X-Pad: ${"x".repeat(33)}\r\n` + "\r\n" + ("y".repeat(62) + "\r\n").repeat(63)
const envelope = "MAIL FROM:<sender@example.com>\r\nRCPT TO:<rcpt@example.org>\r\n"

const expect = (code: number, reply: { readonly code: number }) => {
  if (reply.code !== code) throw new Error(`expected ${code}, got ${reply.code}`)
}

// MAIL, RCPT and DATA pipelined, then the body once 354 has come
const withData = (client: TestTransport.TestClient) =>
  Effect.gen(function* () {
    yield* client.send(envelope + "DATA\r\n")
    const [mail, rcpt, data] = yield* client.replies(3)
    expect(250, mail!)
    expect(250, rcpt!)
    expect(354, data!)
    yield* client.send(body + ".\r\n")
    expect(250, yield* client.reply)
  })

// MAIL, RCPT and BDAT LAST with its chunk, all pipelined: no 354 to wait for
const withBdat = (client: TestTransport.TestClient) =>
  Effect.gen(function* () {
    yield* client.send(`${envelope}BDAT ${body.length} LAST\r\n${body}`)
    const [mail, rcpt, last] = yield* client.replies(3)
    expect(250, mail!)
    expect(250, rcpt!)
    expect(250, last!)
  })

const reading = MessageHandler.layer({ data: (_, message) => Stream.runDrain(message.body) })

const scope = Effect.runSync(Scope.make())
const connect = (handler: Layer.Layer<MessageHandler.MessageHandler>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const client = yield* server.connect
      expect(220, yield* client.reply)
      expect(250, yield* SmtpTest.command(client, "EHLO client.example.com"))
      return client
    }).pipe(Effect.provide(handler), Scope.provide(scope))
  )
const sink = await connect(Sink.layer)
const reader = await connect(reading)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const options = { time: 1000, warmupIterations: 50 }

test("DATA and BDAT, 4 KiB (messages/s = hz)", async ({ bench }) => {
  await bench.compare(
    bench("Sink: DATA", () => Effect.runPromise(withData(sink))),
    bench("Sink: BDAT LAST", () => Effect.runPromise(withBdat(sink))),
    options
  )
  await bench.compare(
    bench("a handler that reads the body: DATA", () => Effect.runPromise(withData(reader))),
    bench("a handler that reads the body: BDAT LAST", () => Effect.runPromise(withBdat(reader))),
    options
  )
})
