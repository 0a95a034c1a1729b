/**
 * A whole session in memory: the `SmtpTest` server with the Sink handler, driven over the
 * in-memory transport. No sockets, so this is the cost of the server's Effect code per message
 * (the framer, the protocol, the handler calls, the fibers and queues between them).
 * messages/s = hz; MB/s of message content = hz × 0.0041. Not tests: `npm run bench:micro`.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, test } from "vitest"
import * as Sink from "../handlers/Sink.js"
import * as SmtpTest from "./SmtpTest.js"
import type * as TestTransport from "./TestTransport.js"

// 4 KiB: 64 octets of header, then 63 lines of 64 octets (CRLF included), then the end of DATA
const body = "Subject: benchmark\r\n" + `X-Pad: ${"x".repeat(33)}\r\n` + "\r\n" + ("y".repeat(62) + "\r\n").repeat(63)
if (body.length !== 4096) throw new Error(`body is ${body.length} octets`)
const message = body + ".\r\n"
const envelope = "MAIL FROM:<sender@example.com>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\n"

const expect = (code: number, reply: { readonly code: number }) => {
  if (reply.code !== code) throw new Error(`expected ${code}, got ${reply.code}`)
}

// MAIL, RCPT and DATA pipelined (RFC 2920), then the body once 354 has come
const transaction = (client: TestTransport.TestClient) =>
  Effect.gen(function* () {
    yield* client.send(envelope)
    const [mail, rcpt, data] = yield* client.replies(3)
    expect(250, mail!)
    expect(250, rcpt!)
    expect(354, data!)
    yield* client.send(message)
    expect(250, yield* client.reply)
  })

const scope = Effect.runSync(Scope.make())
const server = await Effect.runPromise(SmtpTest.server().pipe(Effect.provide(Sink.layer), Scope.provide(scope)))

const open = Effect.gen(function* () {
  const client = yield* server.connect
  expect(220, yield* client.reply)
  expect(250, yield* SmtpTest.command(client, "EHLO client.example.com"))
  return client
})
const client = await Effect.runPromise(open)

// 10 transactions back to back in one fiber, as v3's `Effect.repeatN(transaction, 9)` ran them:
// `Effect.repeat({ times: 9 })` would yield to the scheduler between them (its schedule sleeps 0)
const tenTransactions = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* transaction(client)
})

const options = { time: 1000, warmupIterations: 50 }

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

test("in-memory session, Sink handler (messages/s = hz)", async ({ bench }) => {
  await bench.compare(
    bench("1 message of 4 KiB on an open connection (MAIL, RCPT, DATA, body)", () =>
      Effect.runPromise(transaction(client))
    ),
    bench("connect, EHLO, 1 message of 4 KiB, QUIT", () =>
      Effect.runPromise(
        Effect.gen(function* () {
          const fresh = yield* open
          yield* transaction(fresh)
          expect(221, yield* SmtpTest.command(fresh, "QUIT"))
          yield* fresh.awaitClose
        })
      )
    ),
    options
  )
  // its own options: fewer warmup runs, each is 10 messages
  await bench("10 messages of 4 KiB on an open connection, one Effect run", () =>
    Effect.runPromise(tenTransactions)
  ).run({ time: 1000, warmupIterations: 5 })
})
