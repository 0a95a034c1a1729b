// Parked sessions: a session with no fiber until it needs one. Connection.start over the in-memory
// transport with a fork that counts (when a fiber is forked, and what ends the session), and
// NodeTransport's side of Transport.Parking over a real socket (wake on a step that needs effects,
// on the idle timeout, on the peer's close and on a defect; no park over queued input; the
// lingering close).
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Context, Duration, Effect, Exit, Fiber, Layer, Logger, References, Result } from "effect"
import { TestClock } from "effect/testing"
import * as Net from "node:net"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as NodeTransport from "../../src/node/NodeTransport.js"
import * as Connection from "../../src/server/Connection.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import * as Transport from "../../src/server/Transport.js"
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
      onEnd: () => {
        seen.ends++
      }
    })
    expect((yield* client.reply).code).toBe(220)
    return { client, handle, seen }
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

  it.effect("forks its fiber at the first command that needs an effect, once, and the fiber serves the rest", () =>
    Effect.gen(function* () {
      const mails: Array<string> = []
      const handler = MessageHandler.make({ mail: (_, from) => Effect.sync(() => void mails.push(from)) })
      const { client, seen } = yield* session(handler)
      yield* client.send("EHLO client.test\r\n")
      expect(yield* codes(client, 1)).toEqual([250])
      expect(seen.forks).toBe(0)
      yield* client.send(transaction)
      expect(yield* codes(client, 3)).toEqual([250, 250, 354])
      expect(seen.forks).toBe(1)
      yield* client.send("body\r\n.\r\n" + transaction)
      expect(yield* codes(client, 4)).toEqual([250, 250, 250, 354])
      yield* client.send("second\r\n.\r\nQUIT\r\n")
      expect(yield* codes(client, 2)).toEqual([250, 221])
      yield* client.awaitClose
      expect(mails).toEqual(["a@example.com", "a@example.com"])
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

// a connected pair: the server's socket as a NodeTransport, and the client's socket
const socketPair = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.callback<Net.Server>((resume) => {
      const listening = Net.createServer({ allowHalfOpen: true })
      listening.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed(listening)))
    }),
    (listening) => Effect.sync(() => listening.close())
  )
  const accepted = Effect.callback<Net.Socket>((resume) => {
    server.once("connection", (socket) => resume(Effect.succeed(socket)))
  })
  const connecting = Effect.callback<Net.Socket>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port: (server.address() as Net.AddressInfo).port }, () =>
      resume(Effect.succeed(socket))
    )
  })
  const [serverSide, client] = yield* Effect.all([accepted, connecting], { concurrency: 2 })
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      serverSide.destroy()
      client.destroy()
    })
  )
  client.on("error", () => {})
  return { transport: NodeTransport.make(serverSide), client }
})

// resolves when `wake` is called
const wakeSignal = () => {
  let woken = 0
  let resolve = () => {}
  const called = new Promise<void>((r) => (resolve = r))
  return {
    wake: () => {
      woken++
      resolve()
    },
    woken: () => woken,
    called: Effect.promise(() => called).pipe(
      Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.fail("no wake") })
    )
  }
}

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? "(end)" : Buffer.from(bytes).toString())

describe("NodeTransport parking", () => {
  it.live("chunks go to inline while it keeps the park; the one it leaves wakes the session once", () =>
    Effect.gen(function* () {
      const { client, transport } = yield* socketPair
      assert(transport.park !== undefined)
      const taken: Array<string> = []
      const signal = wakeSignal()
      const parked = transport.park.start(
        (chunk) => {
          taken.push(text(chunk))
          return text(chunk).startsWith("AUTH") ? undefined : 60_000
        },
        60_000,
        signal.wake
      )
      expect(parked).toBe(true)
      client.write("NOOP\r\n")
      yield* Effect.sleep("100 millis")
      expect(signal.woken()).toBe(0)
      client.write("AUTH PLAIN\r\n")
      yield* signal.called
      expect(taken).toEqual(["NOOP\r\n", "AUTH PLAIN\r\n"])
      // woken: the fiber reads what comes next, and inline sees no more of it
      client.write("after\r\n")
      expect(text(yield* transport.read(Duration.seconds(2)))).toBe("after\r\n")
      expect(taken).toHaveLength(2)
      expect(signal.woken()).toBe(1)
    })
  )

  it.live("the idle timeout wakes it, and the next read is the ReadTimeout", () =>
    Effect.gen(function* () {
      const { transport } = yield* socketPair
      const signal = wakeSignal()
      expect(transport.park!.start(() => 60_000, 100, signal.wake)).toBe(true)
      yield* signal.called
      const read = yield* Effect.result(transport.read(Duration.seconds(2)))
      assert(Result.isFailure(read))
      expect(read.failure).toBeInstanceOf(Transport.ReadTimeout)
    })
  )

  it.live("the peer's close wakes it, and the next read is the end", () =>
    Effect.gen(function* () {
      const { client, transport } = yield* socketPair
      const signal = wakeSignal()
      expect(transport.park!.start(() => 60_000, 60_000, signal.wake)).toBe(true)
      client.end()
      yield* signal.called
      expect(text(yield* transport.read(Duration.seconds(2)))).toBe("(end)")
    })
  )

  it.live("a defect in inline wakes it and the next read dies with it, never thrown into the socket's event", () =>
    Effect.gen(function* () {
      const { client, transport } = yield* socketPair
      const signal = wakeSignal()
      const parked = transport.park!.start(
        () => {
          throw new Error("boom")
        },
        60_000,
        signal.wake
      )
      expect(parked).toBe(true)
      client.write("x")
      yield* signal.called
      const exit = yield* Effect.exit(transport.read(Duration.seconds(2)))
      assert(Exit.isFailure(exit))
      expect(Cause.hasDies(exit.cause)).toBe(true)
      expect(String(Cause.squash(exit.cause))).toContain("boom")
    })
  )

  it.live("a waiting read's inline handling: chunks it keeps stay with it; a defect ends the read with it", () =>
    Effect.gen(function* () {
      const { client, transport } = yield* socketPair
      const taken: Array<string> = []
      const read = yield* Effect.forkChild(
        Effect.exit(
          transport.read(Duration.seconds(2), (chunk) => {
            taken.push(text(chunk))
            if (text(chunk).startsWith("boom")) throw new Error("boom")
            return 60_000
          })
        )
      )
      yield* Effect.sleep("50 millis")
      client.write("NOOP\r\n")
      yield* Effect.sleep("100 millis")
      client.write("boom")
      const exit = yield* Fiber.join(read)
      assert(Exit.isFailure(exit))
      expect(String(Cause.squash(exit.cause))).toContain("boom")
      expect(taken).toEqual(["NOOP\r\n", "boom"])
    })
  )

  it.live("no park over input already queued: the session reads it in its fiber", () =>
    Effect.gen(function* () {
      const { client, transport } = yield* socketPair
      client.write("early\r\n")
      yield* Effect.sleep("100 millis")
      expect(
        transport.park!.start(
          () => 60_000,
          60_000,
          () => {}
        )
      ).toBe(false)
      expect(text(yield* transport.read(Duration.seconds(2)))).toBe("early\r\n")
    })
  )

  it.live("end: what was written reaches the client, the connection closes, done runs once", () =>
    Effect.gen(function* () {
      const { client, transport } = yield* socketPair
      let received = ""
      client.on("data", (chunk: Buffer) => (received += chunk.toString()))
      const closed = Effect.callback<void>((resume) => {
        client.once("end", () => {
          client.end()
          resume(Effect.void)
        })
      })
      expect(transport.writeNow!("221 2.0.0 Bye\r\n")).toBe(true)
      let done = 0
      transport.park!.end(() => done++)
      yield* closed
      yield* Effect.sleep("100 millis")
      expect(received).toBe("221 2.0.0 Bye\r\n")
      expect(done).toBe(1)
    })
  )
})
