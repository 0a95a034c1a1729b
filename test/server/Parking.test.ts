// Parked sessions: a session with no fiber until it needs one. Connection.start over the in-memory
// transport with a fork that counts (when a fiber is forked, and what ends the session).
// NodeTransport's side of Transport.Parking, over a real socket: test/node/NodeTransport.test.ts.
import { assert, describe, expect, it } from "@effect/vitest"
import { Clock, Context, Deferred, Effect, Exit, Fiber, Layer, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import * as Connection from "../../src/internal/Connection.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import { SmtpTest } from "../../src/testing/index.js"
import * as TestTransport from "../../src/testing/TestTransport.js"

// a session on the in-memory transport, with what the server would see of it
const session = (handler: MessageHandler.Handler, options: ServerConfig.Options = {}) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig.make({ hostname: "mx.test", ...options })
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)
    const { client, transport } = yield* TestTransport.make()
    const seen = { forks: 0, ends: 0, shuttingDown: false }
    // the hooks' own fibers (`HookFiber`): not the session's
    const hooks: Array<Effect.Effect<void>> = []
    const handle = Connection.start(transport, {
      id: "parking",
      config,
      handler,
      isShuttingDown: () => seen.shuttingDown,
      clock: Context.get(context, Clock.Clock),
      context,
      fork: (effect) => {
        seen.forks++
        return runFork(effect)
      },
      forkHook: (effect) => {
        hooks.push(effect)
        return runFork(effect)
      },
      onEnd: () => {
        seen.ends++
      }
    })
    expect((yield* client.reply).code).toBe(220)
    return { client, handle, seen, hooks }
  })

const codes = (client: TestTransport.TestClient, n: number) =>
  Effect.map(client.replies(n), (replies) => replies.map((reply) => reply.code))

const transaction = "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"

describe("a parked session", () => {
  it.effect("accepts whole messages and QUIT with no fiber at all, then closes once", () =>
    Effect.gen(function* () {
      const { client, handle, seen } = yield* session(MessageHandler.make({}))
      yield* client.send("EHLO client.test\r\n")
      expect(yield* codes(client, 1)).toEqual([250])
      expect(handle.isIdle()).toBe(true)
      yield* client.send(transaction)
      expect(yield* codes(client, 3)).toEqual([250, 250, 354])
      // a body being drained is not idle: shutdown lets it finish
      expect(handle.isIdle()).toBe(false)
      yield* client.send("Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n")
      expect(yield* codes(client, 2)).toEqual([250, 221])
      yield* client.awaitClose
      expect(seen).toEqual({ forks: 0, ends: 1, shuttingDown: false })
      expect(handle.fiber()).toBeUndefined()
    })
  )

  it.effect("runs MAIL and DATA hooks in fibers of their own, answered inline: the session forks none", () =>
    Effect.gen(function* () {
      const mails: Array<string> = []
      const bodies: Array<string> = []
      const handler = MessageHandler.make({
        mail: (_, from) => Effect.sync(() => void mails.push(from)),
        data: (_, message) => Effect.map(Message.text(message), (text) => void bodies.push(text))
      })
      const { client, seen, hooks } = yield* session(handler)
      yield* client.send("EHLO client.test\r\n")
      expect(yield* codes(client, 1)).toEqual([250])
      yield* client.send(transaction)
      expect(yield* codes(client, 3)).toEqual([250, 250, 354])
      yield* client.send("body\r\n.\r\n" + transaction)
      expect(yield* codes(client, 4)).toEqual([250, 250, 250, 354])
      yield* client.send("second\r\n.\r\nQUIT\r\n")
      expect(yield* codes(client, 2)).toEqual([250, 221])
      yield* client.awaitClose
      expect(mails).toEqual(["a@example.com", "a@example.com"])
      expect(bodies).toEqual(["body\r\n", "second\r\n"])
      expect(hooks.length).toBe(4)
      expect(seen).toEqual({ forks: 0, ends: 1, shuttingDown: false })
    })
  )

  it.effect("forks its fiber at the first command that needs it, once, and the fiber serves the rest", () =>
    Effect.gen(function* () {
      const mails: Array<string> = []
      const handler = MessageHandler.make({
        helo: () => Effect.void,
        mail: (_, from) => Effect.sync(() => void mails.push(from))
      })
      const { client, seen, hooks } = yield* session(handler)
      yield* client.send("NOOP\r\n")
      expect(yield* codes(client, 1)).toEqual([250])
      expect(seen.forks).toBe(0)
      yield* client.send("EHLO client.test\r\n")
      expect(yield* codes(client, 1)).toEqual([250])
      expect(seen.forks).toBe(1)
      yield* client.send(transaction)
      expect(yield* codes(client, 3)).toEqual([250, 250, 354])
      yield* client.send("body\r\n.\r\nQUIT\r\n")
      expect(yield* codes(client, 2)).toEqual([250, 221])
      yield* client.awaitClose
      expect(mails).toEqual(["a@example.com"])
      // the fiber calls its hooks itself
      expect(hooks.length).toBe(0)
      expect(seen).toEqual({ forks: 1, ends: 1, shuttingDown: false })
    })
  )

  it.effect("a client that hangs up while parked ends the session (a fiber closes it)", () =>
    Effect.gen(function* () {
      const { client, handle, seen } = yield* session(MessageHandler.make({}))
      yield* client.send("EHLO client.test\r\n")
      yield* client.reply
      yield* client.end
      yield* client.awaitClose
      const fiber = handle.fiber()
      assert(fiber !== undefined)
      expect(Exit.isSuccess(yield* Fiber.await(fiber))).toBe(true)
      expect(seen).toEqual({ forks: 1, ends: 1, shuttingDown: false })
    })
  )

  it.effect("the idle timeout wakes it: 421 4.4.2, then the close", () =>
    Effect.gen(function* () {
      const { client, seen } = yield* session(MessageHandler.make({}), { idleTimeout: "10 seconds" })
      yield* client.send("EHLO client.test\r\n")
      yield* client.reply
      yield* TestClock.adjust("9 seconds")
      expect(yield* client.isClosed).toBe(false)
      yield* TestClock.adjust("2 seconds")
      const reply = yield* client.reply
      expect([reply.code, reply.enhanced]).toEqual([421, "4.4.2"])
      yield* client.awaitClose
      expect(seen.ends).toBe(1)
    })
  )

  it.effect("shutdown wakes an idle parked session: 421 4.3.2 at once", () =>
    Effect.gen(function* () {
      const { client, handle, seen } = yield* session(MessageHandler.make({}))
      yield* client.send("EHLO client.test\r\n")
      yield* client.reply
      seen.shuttingDown = true
      const fiber = handle.fiber()
      assert(fiber !== undefined)
      const reply = yield* client.reply
      expect([reply.code, reply.enhanced]).toEqual([421, "4.3.2"])
      yield* Fiber.join(fiber)
      expect(seen).toEqual({ forks: 1, ends: 1, shuttingDown: true })
    })
  )
})

describe("a session parked again after a message", () => {
  // over what a session keeps before calling the handler: its fiber reads the rest
  const large = (n: number) => `message ${n}\r\n` + `${"x".repeat(78)}\r\n`.repeat(900)

  const reading = (bodies: Array<string>) =>
    MessageHandler.make({
      data: (_, message) => Effect.map(Message.text(message), (text) => void bodies.push(text))
    })

  it.effect("its fiber ends once a large message is answered; the next forks one; QUIT needs none", () =>
    Effect.gen(function* () {
      const bodies: Array<string> = []
      const { client, handle, seen } = yield* session(reading(bodies))
      yield* client.send("EHLO client.test\r\n")
      yield* client.reply
      for (const n of [1, 2]) {
        yield* client.send(transaction)
        expect(yield* codes(client, 3)).toEqual([250, 250, 354])
        yield* client.send(`${large(n)}.\r\n`)
        expect(yield* codes(client, 1)).toEqual([250])
        expect(seen.forks).toBe(n)
        expect(handle.isIdle()).toBe(true)
      }
      yield* client.send("QUIT\r\n")
      expect(yield* codes(client, 1)).toEqual([221])
      yield* client.awaitClose
      expect(bodies).toEqual([large(1), large(2)])
      expect(seen).toEqual({ forks: 2, ends: 1, shuttingDown: false })
    })
  )

  it.effect("the idle timeout and shutdown still reach it", () =>
    Effect.gen(function* () {
      const first = yield* session(reading([]), { idleTimeout: "10 seconds" })
      yield* first.client.send("EHLO client.test\r\n")
      yield* first.client.reply
      yield* first.client.send(transaction)
      yield* first.client.replies(3)
      yield* first.client.send(`${large(1)}.\r\n`)
      yield* first.client.reply
      yield* TestClock.adjust("11 seconds")
      const timedOut = yield* first.client.reply
      expect([timedOut.code, timedOut.enhanced]).toEqual([421, "4.4.2"])
      yield* first.client.awaitClose
      expect(first.seen).toEqual({ forks: 2, ends: 1, shuttingDown: false })

      const second = yield* session(reading([]))
      yield* second.client.send("EHLO client.test\r\n")
      yield* second.client.reply
      yield* second.client.send(transaction)
      yield* second.client.replies(3)
      yield* second.client.send(`${large(1)}.\r\n`)
      yield* second.client.reply
      second.seen.shuttingDown = true
      const fiber = second.handle.fiber()
      assert(fiber !== undefined)
      const reply = yield* second.client.reply
      expect([reply.code, reply.enhanced]).toEqual([421, "4.3.2"])
      yield* Fiber.join(fiber)
      expect(second.seen.ends).toBe(1)
    })
  )

  it.effect("not with a line begun behind the message: the line's command deadline still cuts it", () =>
    Effect.gen(function* () {
      const { client, seen } = yield* session(reading([]), { commandDeadline: "30 seconds" })
      yield* client.send("EHLO client.test\r\n")
      yield* client.reply
      yield* client.send(transaction)
      yield* client.replies(3)
      yield* client.send(`${large(1)}.\r\nNO`)
      expect(yield* codes(client, 1)).toEqual([250])
      yield* TestClock.adjust("31 seconds")
      const cut = yield* client.reply
      expect([cut.code, cut.enhanced]).toEqual([421, "4.4.2"])
      yield* client.awaitClose
      expect(seen.forks).toBe(1)
    })
  )

  it.effect("a handler with a reset hook keeps its fiber from message to message", () =>
    Effect.gen(function* () {
      const resets: Array<number> = []
      const handler = MessageHandler.make({
        data: (_, message) => Effect.asVoid(Message.text(message)),
        reset: () => Effect.sync(() => void resets.push(resets.length))
      })
      const { client, seen } = yield* session(handler)
      yield* client.send("EHLO client.test\r\n")
      yield* client.reply
      for (let n = 0; n < 2; n++) {
        yield* client.send(transaction)
        yield* client.replies(3)
        yield* client.send("body\r\n.\r\n")
        expect(yield* codes(client, 1)).toEqual([250])
      }
      expect(seen.forks).toBe(1)
      expect(resets).toEqual([0, 1])
    })
  )
})

describe("a hook in its own fiber (HookFiber)", () => {
  // a MAIL hook that waits until the test lets it go; RCPTs counted
  const held = Effect.gen(function* () {
    const gate = yield* Deferred.make<void>()
    const calls = { mails: 0, rcpts: 0, interrupted: false }
    const handler = MessageHandler.make({
      mail: () =>
        Effect.sync(() => void calls.mails++).pipe(
          Effect.andThen(Deferred.await(gate)),
          Effect.onInterrupt(() => Effect.sync(() => void (calls.interrupted = true)))
        ),
      rcpt: () => Effect.sync(() => void calls.rcpts++)
    })
    const { client, handle, seen, hooks } = yield* session(handler)
    yield* client.send("EHLO client.test\r\n")
    yield* client.reply
    return { client, handle, seen, hooks, gate, calls }
  })

  const settle = Effect.repeat(Effect.yieldNow, { times: 20 })

  it.effect("one that waits holds the session: nothing after it is acted on until it lands, still with no fiber", () =>
    Effect.gen(function* () {
      const { client, handle, seen, gate, calls } = yield* held
      yield* client.send(transaction)
      yield* settle
      expect(calls).toEqual({ mails: 1, rcpts: 0, interrupted: false })
      expect(handle.isIdle()).toBe(false)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* codes(client, 3)).toEqual([250, 250, 354])
      expect(calls.rcpts).toBe(1)
      yield* client.send("body\r\n.\r\nQUIT\r\n")
      expect(yield* codes(client, 2)).toEqual([250, 221])
      yield* client.awaitClose
      expect(seen).toEqual({ forks: 0, ends: 1, shuttingDown: false })
    })
  )

  it.effect("what comes while it waits is read by the session's fiber once it lands", () =>
    Effect.gen(function* () {
      const { client, seen, gate, calls } = yield* held
      yield* client.send("MAIL FROM:<a@example.com>\r\n")
      yield* settle
      yield* client.send("RCPT TO:<b@example.com>\r\n")
      yield* settle
      expect(calls.rcpts).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* codes(client, 2)).toEqual([250, 250])
      expect(seen.forks).toBe(1)
    })
  )

  it.effect(
    "what came while it waited, up to QUIT, is answered by the fiber forked at its landing; nothing after 221",
    () =>
      Effect.gen(function* () {
        const { client, seen, gate } = yield* held
        yield* client.send("MAIL FROM:<a@example.com>\r\n")
        yield* settle
        for (const line of ["RCPT TO:<b@example.com>\r\n", "QUIT\r\n", "NOOP\r\n"]) yield* client.send(line)
        yield* settle
        yield* Deferred.succeed(gate, undefined)
        expect(yield* codes(client, 3)).toEqual([250, 250, 221])
        yield* client.awaitClose
        expect(yield* client.output).not.toMatch(/221 [^\n]*\n[\s\S]+/)
        expect(seen).toEqual({ forks: 1, ends: 1, shuttingDown: false })
      })
  )

  it.effect("shutdown while it waits: the session's fiber takes it over, answers it, then 421", () =>
    Effect.gen(function* () {
      const { client, handle, seen, gate, calls } = yield* held
      yield* client.send("MAIL FROM:<a@example.com>\r\n")
      yield* settle
      seen.shuttingDown = true
      const fiber = handle.fiber()
      assert(fiber !== undefined)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* codes(client, 2)).toEqual([250, 421])
      yield* Fiber.join(fiber)
      expect(calls.interrupted).toBe(false)
      expect(seen).toEqual({ forks: 1, ends: 1, shuttingDown: true })
    })
  )

  it.effect("interrupting the session's fiber that took it over interrupts the hook", () =>
    Effect.gen(function* () {
      const { client, handle, calls } = yield* held
      yield* client.send("MAIL FROM:<a@example.com>\r\n")
      yield* settle
      const fiber = handle.fiber()
      assert(fiber !== undefined)
      yield* settle
      yield* Fiber.interrupt(fiber)
      expect(calls.interrupted).toBe(true)
      yield* client.awaitClose
    })
  )

  it.effect("one that fails or dies is answered as the session's fiber would (451 for a defect)", () =>
    Effect.gen(function* () {
      const handler = MessageHandler.make({
        rcpt: (_, recipient) =>
          recipient.address.startsWith("dies")
            ? Effect.die(new Error("boom"))
            : Effect.fail(new SmtpError.MailboxUnavailable({}))
      })
      const { client, seen } = yield* session(handler)
      yield* client.send("EHLO client.test\r\n")
      yield* client.reply
      yield* client.send("MAIL FROM:<a@example.com>\r\n")
      yield* client.reply
      yield* client.send("RCPT TO:<dies@example.com>\r\nRCPT TO:<gone@example.com>\r\n")
      expect(yield* codes(client, 2)).toEqual([451, 550])
      expect(seen.forks).toBe(0)
    }).pipe(Effect.provide(Logger.layer([])))
  )
})

describe("a session's fiber, forked late", () => {
  it.effect("logs with the session's annotations (session id, peer), set when it is forked", () => {
    const logged: Array<Record<string, unknown>> = []
    const capture = Logger.layer(
      [
        Logger.make(({ fiber, message }) => {
          if (String(message) === "hook") logged.push({ ...fiber.getRef(References.CurrentLogAnnotations) })
        })
      ],
      { mergeWithExisting: true }
    )
    const handler = MessageHandler.make({ mail: () => Effect.logInfo("hook") })
    return Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const client = yield* server.connectWith({ remote: { address: "198.51.100.7", port: 4321 } })
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO client.test")
      expect((yield* SmtpTest.command(client, "MAIL FROM:<a@example.com>")).code).toBe(250)
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({ peer: "198.51.100.7:4321" })
      expect(String(logged[0]!["session"])).toMatch(/^[a-z0-9]+-0$/)
      yield* SmtpTest.command(client, "QUIT")
    }).pipe(Effect.provide(Layer.merge(Layer.succeed(MessageHandler.MessageHandler, handler), capture)))
  })
})
