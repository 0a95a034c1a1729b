// The connect and HELO/EHLO hooks and a handler's per-session form (`session`), over the
// in-memory server; and that hooks left absent keep the fast path (no fiber for a Sink session).
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, References } from "effect"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Connection from "../../src/internal/Connection.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import { SmtpTest } from "../../src/testing/index.js"
import * as TestTransport from "../../src/testing/TestTransport.js"

const quiet = Effect.provideService(References.MinimumLogLevel, "None")

// a server with this handler, in the test's scope
const serving = (handler: MessageHandler.Handler) =>
  SmtpTest.server().pipe(Effect.provideService(MessageHandler.MessageHandler, handler))

const codes = (client: TestTransport.TestClient, n: number) =>
  Effect.map(client.replies(n), (replies) => replies.map((reply) => reply.code))

const hello = (client: TestTransport.TestClient) =>
  Effect.map(SmtpTest.command(client, "EHLO c"), (reply) => expect(reply.code).toBe(250))

// one message, sent as a client that waits for the 354 sends it
const deliver = (client: TestTransport.TestClient) =>
  Effect.gen(function* () {
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    expect(yield* codes(client, 3)).toEqual([250, 250, 354])
    expect((yield* SmtpTest.command(client, "body\r\n.")).code).toBe(250)
  })

const quit = (client: TestTransport.TestClient) =>
  Effect.gen(function* () {
    expect((yield* SmtpTest.command(client, "QUIT")).code).toBe(221)
    yield* client.awaitClose
  })

// a handler whose sessions log their start and end, each with a count of its own
const counting = (events: Array<string>) =>
  MessageHandler.make({
    session: (info) =>
      Effect.gen(function* () {
        events.push(`open ${info.peer.address}`)
        yield* Effect.addFinalizer(() => Effect.sync(() => void events.push(`close ${info.id}`)))
        let messages = 0
        return {
          data: () => Effect.sync(() => void events.push(`message ${++messages} of ${info.id}`))
        } satisfies MessageHandler.Hooks
      })
  })

describe("the connect hook", () => {
  it.effect("refuses a client with its reply instead of the greeting, then closes", () =>
    Effect.gen(function* () {
      const seen: Array<SessionInfo> = []
      const server = yield* serving(
        MessageHandler.make({
          connect: (session) =>
            Effect.andThen(
              Effect.sync(() => seen.push(session)),
              new SmtpError.ServerBusy()
            )
        })
      )
      const client = yield* server.connectWith({ remote: { address: "192.0.2.7", port: 4000 } })
      const reply = yield* client.reply
      expect([reply.code, reply.lines]).toEqual([421, ["Too many connections, try again later"]])
      yield* client.awaitClose
      expect(seen.map((session) => [session.peer.address, session.greeting])).toEqual([["192.0.2.7", undefined]])
    }).pipe(Effect.scoped)
  )

  it.effect("greets a client it accepts", () =>
    Effect.gen(function* () {
      const server = yield* serving(MessageHandler.make({ connect: () => Effect.void }))
      const client = yield* server.connect
      expect((yield* client.reply).code).toBe(220)
      yield* hello(client)
      yield* deliver(client)
      yield* quit(client)
    }).pipe(Effect.scoped)
  )
})

describe("the helo hook", () => {
  it.effect("refuses HELO/EHLO with its reply; the session stays without a greeting", () =>
    Effect.gen(function* () {
      const greetings: Array<string> = []
      const server = yield* serving(
        MessageHandler.make({
          helo: (_, greeting) =>
            Effect.andThen(
              Effect.sync(() => greetings.push(`${greeting.esmtp ? "EHLO" : "HELO"} ${greeting.name}`)),
              greeting.name === "bad.test" ? Effect.fail(new SmtpError.RelayDenied({ text: "Go away" })) : Effect.void
            )
        })
      )
      const client = yield* server.connect
      yield* client.reply
      const refused = yield* SmtpTest.command(client, "EHLO bad.test")
      expect([refused.code, refused.lines]).toEqual([550, ["Go away"]])
      expect((yield* SmtpTest.command(client, "MAIL FROM:<a@example.com>")).code).toBe(503)
      expect((yield* SmtpTest.command(client, "HELO good.test")).code).toBe(250)
      expect((yield* SmtpTest.command(client, "MAIL FROM:<a@example.com>")).code).toBe(250)
      expect(greetings).toEqual(["EHLO bad.test", "HELO good.test"])
    }).pipe(Effect.scoped)
  )
})

describe("the per-session form", () => {
  it.effect("gives each session its own hooks, and closes its scope at QUIT", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const server = yield* serving(counting(events))
      const first = yield* server.connect
      const second = yield* server.connect
      yield* first.reply
      yield* second.reply
      yield* hello(first)
      yield* deliver(first)
      yield* deliver(first)
      yield* quit(first)
      yield* hello(second)
      yield* deliver(second)
      const ids = events.filter((e) => e.startsWith("message")).map((e) => e.split(" of ")[1])
      expect(events.filter((e) => e.startsWith("message")).map((e) => e.split(" of ")[0])).toEqual([
        "message 1",
        "message 2",
        "message 1"
      ])
      expect(ids[0]).toBe(ids[1])
      expect(events).toContain(`close ${ids[0]}`)
      expect(events).not.toContain(`close ${ids[2]}`)
    }).pipe(Effect.scoped)
  )

  it.effect("closes its scope when the client goes, and at shutdown", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      yield* Effect.gen(function* () {
        const server = yield* serving(counting(events))
        const gone = yield* server.connect
        const staying = yield* server.connect
        yield* gone.reply
        yield* staying.reply
        yield* gone.end
        yield* gone.awaitClose
        expect(events.filter((e) => e.startsWith("close"))).toHaveLength(1)
        expect((yield* SmtpTest.command(staying, "EHLO c")).code).toBe(250)
      }).pipe(Effect.scoped)
      expect(events.filter((e) => e.startsWith("open"))).toHaveLength(2)
      expect(events.filter((e) => e.startsWith("close"))).toHaveLength(2)
    })
  )

  it.effect("refuses the client with the reply of its failure, and its finalizers run", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const server = yield* serving(
        MessageHandler.make({
          session: () =>
            Effect.andThen(
              Effect.addFinalizer(() => Effect.sync(() => void events.push("released"))),
              new SmtpError.StorageError()
            )
        })
      )
      const client = yield* server.connect
      expect((yield* client.reply).code).toBe(452)
      yield* client.awaitClose
      expect(events).toEqual(["released"])
    }).pipe(Effect.scoped, quiet)
  )

  it.effect("accepts everything with no hooks, and its connect hook may refuse", () =>
    Effect.gen(function* () {
      const server = yield* serving(MessageHandler.make({ session: () => Effect.succeed({}) }))
      const client = yield* server.connect
      expect((yield* client.reply).code).toBe(220)
      yield* hello(client)
      yield* deliver(client)
      yield* quit(client)
      const refusing = yield* serving(
        MessageHandler.make({
          session: () => Effect.succeed({ connect: () => Effect.fail(new SmtpError.ServerBusy()) })
        })
      )
      const refused = yield* refusing.connect
      expect((yield* refused.reply).code).toBe(421)
      yield* refused.awaitClose
    }).pipe(Effect.scoped)
  )
})

// a session on the in-memory transport with a fork that counts (as in Parking.test.ts)
const forks = (handler: MessageHandler.Handler) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig.make({ hostname: "mx.test" })
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)
    const { client, transport } = yield* TestTransport.make()
    const seen = { forks: 0, hooks: 0 }
    Connection.start(transport, {
      id: "hooks",
      config,
      handler,
      isShuttingDown: () => false,
      clock: Context.get(context, Clock.Clock),
      context,
      fork: (effect) => {
        seen.forks++
        return runFork(effect)
      },
      forkHook: (effect) => {
        seen.hooks++
        return runFork(effect)
      }
    })
    expect((yield* client.reply).code).toBe(220)
    yield* hello(client)
    yield* deliver(client)
    yield* quit(client)
    return seen
  })

// a wrapper that logs around the hooks it is given, and leaves absent what is absent
const logged = (hooks: MessageHandler.Hooks): MessageHandler.Hooks => ({
  ...hooks,
  mail:
    hooks.mail &&
    ((session, from, parameters) => Effect.andThen(Effect.log(from), hooks.mail!(session, from, parameters)))
})

describe("absent hooks", () => {
  it.effect("cost nothing: a Sink session, wrapped or given acceptAll, forks no fiber", () =>
    Effect.gen(function* () {
      expect(yield* forks(MessageHandler.make(logged({})))).toEqual({ forks: 0, hooks: 0 })
      expect(
        yield* forks(MessageHandler.make({ mail: MessageHandler.acceptAll, data: MessageHandler.acceptAll }))
      ).toEqual({ forks: 0, hooks: 0 })
      // a MAIL hook that is there runs in a fiber of its own; a connect hook needs the
      // session's fiber from the start
      expect(yield* forks(MessageHandler.make(logged({ mail: () => Effect.void })))).toEqual({ forks: 0, hooks: 1 })
      expect(yield* forks(MessageHandler.make({ connect: () => Effect.void }))).toEqual({ forks: 1, hooks: 0 })
    }).pipe(quiet)
  )
})

describe("a 421 from a hook", () => {
  const busy = () => Effect.fail(new SmtpError.ServerBusy({ text: "Going away" }))
  // the 421, then the close; the NOOP sent behind the command got no reply
  const closesAfter = (client: TestTransport.TestClient) =>
    Effect.gen(function* () {
      const reply = yield* client.reply
      expect([reply.code, reply.lines]).toEqual([421, ["Going away"]])
      yield* client.awaitClose
      // (no enhanced code after a refused EHLO: the session is not ESMTP)
      expect(yield* client.output).toMatch(/421 (4\.3\.2 )?Going away\r\n$/)
    })
  const envelope = "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"

  it.effect("to EHLO, MAIL, RCPT or DATA closes the session after the reply", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [MessageHandler.Hooks, string, ReadonlyArray<number>]> = [
        [{ helo: busy }, "EHLO c\r\n", []],
        [{ mail: busy }, "EHLO c\r\n", [250]],
        [{ rcpt: busy }, "EHLO c\r\n", [250]],
        [{ data: busy }, `EHLO c\r\n`, [250]]
      ]
      for (const [hooks, greeting, before] of cases) {
        const client = yield* (yield* serving(MessageHandler.make(hooks))).connect
        yield* client.reply
        yield* client.send(greeting)
        expect(yield* codes(client, before.length)).toEqual(before)
        if (hooks.mail !== undefined) yield* client.send("MAIL FROM:<a@example.com>\r\nNOOP\r\n")
        if (hooks.rcpt !== undefined) {
          yield* client.send(envelope + "NOOP\r\n")
          expect(yield* codes(client, 1)).toEqual([250])
        }
        if (hooks.data !== undefined) {
          yield* client.send(envelope + "DATA\r\n")
          expect(yield* codes(client, 3)).toEqual([250, 250, 354])
          yield* client.send("body\r\n.\r\nNOOP\r\n")
        }
        yield* closesAfter(client)
      }
    }).pipe(quiet)
  )

  it.effect("to a command of the handler's closes the session too", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ commands: { XBYE: busy } }).pipe(
        Effect.provideService(MessageHandler.MessageHandler, MessageHandler.make({}))
      )
      const client = yield* server.connect
      yield* client.reply
      yield* hello(client)
      yield* client.send("XBYE now\r\nNOOP\r\n")
      yield* closesAfter(client)
    }).pipe(quiet)
  )

  it.effect("from a transaction's hook: the reset hook still tidies up", () =>
    Effect.gen(function* () {
      const resets: Array<string> = []
      const handler = MessageHandler.make({
        data: busy,
        reset: (session) => Effect.sync(() => void resets.push(session.id))
      })
      const client = yield* (yield* serving(handler)).connect
      yield* client.reply
      yield* hello(client)
      yield* client.send(envelope + "DATA\r\n")
      expect(yield* codes(client, 3)).toEqual([250, 250, 354])
      yield* client.send("body\r\n.\r\n")
      yield* closesAfter(client)
      expect(resets).toHaveLength(1)
    }).pipe(quiet)
  )
})

describe("a message kept past its hook", () => {
  // (it lets go of its session once answered: docs/performance/gc.md)
  it.effect("keeps its envelope; its body, over, is an empty stream", () =>
    Effect.gen(function* () {
      const kept: Array<Message.Message> = []
      const read: Array<string> = []
      const handler = MessageHandler.make({
        data: (_, message) =>
          Effect.gen(function* () {
            kept.push(message)
            // the first message is read in its hook, the second left to the server's drain
            if (kept.length === 1) read.push(yield* Message.text(message))
          })
      })
      const client = yield* (yield* serving(handler)).connect
      yield* client.reply
      yield* hello(client)
      yield* deliver(client)
      yield* deliver(client)
      yield* quit(client)
      expect(read).toEqual(["body\r\n"])
      expect(kept.map((message) => message.envelope.recipients.map((r) => r.address))).toEqual([
        ["b@example.com"],
        ["b@example.com"]
      ])
      for (const message of kept) expect(yield* Message.text(message)).toBe("")
    })
  )
})
