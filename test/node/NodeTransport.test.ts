// NodeTransport over real loopback sockets. Under inline sessions (NodeSmtpServer with the Sink
// handler): backpressure from a client that does not read, and a body in many writes. Its side of
// Transport.Parking: wake on a step that needs effects, on the idle timeout, on the peer's close
// and on a defect; no park over queued input; the lingering close.
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Result } from "effect"
import * as Net from "node:net"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Sink from "../../src/handlers/Sink.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as NodeTransport from "../../src/node/NodeTransport.js"
import * as Transport from "../../src/internal/Transport.js"
import { counts, delta } from "../utils/messageMetrics.js"
import { connect } from "../utils/rawClient.js"
import { port } from "../utils/server.js"

// real sockets: a server on a free loopback port with the Sink handler
const nodeServer = (options: NodeSmtpServer.Options = {}) =>
  NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "mx.test", shutdownGrace: "1 second", ...options }).pipe(
    Layer.provide(Sink.layer)
  )

// the same with a handler of the test's
const handlerServer = (handler: Layer.Layer<MessageHandler.MessageHandler>) =>
  NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "mx.test", shutdownGrace: "1 second" }).pipe(
    Layer.provide(handler)
  )

// waits (live) until `ok` holds, checking every 20 ms
const until = (ok: () => boolean, timeoutMs: number, what: string) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!ok()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

describe("inline sessions over real sockets", () => {
  it.live("backpressure: a client that does not read its replies stops the server reading its commands", () =>
    Effect.gen(function* () {
      const socket = yield* Effect.acquireRelease(
        Effect.flatMap(port, (p) =>
          Effect.callback<Net.Socket, Error>((resume) => {
            const s = Net.connect({ host: "127.0.0.1", port: p }, () => resume(Effect.succeed(s)))
            s.once("error", (error) => resume(Effect.fail(error)))
          })
        ),
        (s) => Effect.sync(() => s.destroy())
      )
      // whole lines: the RSET replies are counted, any other line kept
      const ok = "250 2.0.0 Ok"
      let oks = 0
      let partial = ""
      let closed = false
      const others: Array<string> = []
      socket.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString("latin1")).split("\r\n")
        partial = lines.pop()!
        for (const line of lines) {
          if (line === ok) oks++
          else others.push(line)
        }
      })
      socket.on("close", () => (closed = true))
      socket.on("error", () => {})
      yield* until(() => others.length > 0, 5000, "the greeting")
      socket.write("EHLO client.test\r\n")
      yield* until(() => others.some((l) => l.startsWith("250 ")), 5000, "the EHLO reply")
      socket.pause()

      // 12 MB in 60 kB writes: writableLength counts a write until all of it is taken, so many
      // small ones show how much the server's side has taken
      const count = 2_000_000
      const batch = "RSET\r\n".repeat(10_000)
      for (let i = 0; i < count / 10_000; i++) socket.write(batch)
      yield* Effect.sleep("1500 millis")
      const unwritten = socket.writableLength
      yield* Effect.sleep("1000 millis")
      // stalled: nothing more was taken in a second, and most of it is left
      expect(socket.writableLength).toBe(unwritten)
      expect(unwritten).toBeGreaterThan(2_000_000)
      expect(closed).toBe(false)

      socket.resume()
      yield* until(() => oks >= count || closed, 30_000, "all the RSET replies")
      expect(oks).toBe(count)
      socket.write("QUIT\r\n")
      yield* until(() => closed, 5000, "the close")
      expect(others.at(-1)).toMatch(/^221 2\.0\.0 /)
      expect(oks).toBe(count)
    }).pipe(Effect.provide(nodeServer({ maxJunkCommands: 10_000_000 })))
  )

  it.live("a 1 MiB body in many writes gets 250, and so does the next message", () =>
    Effect.gen(function* () {
      const before = yield* counts
      const client = yield* connect("127.0.0.1", yield* port)
      expect((yield* client.status).slice(0, 4)).toBe("220 ")
      yield* client.write("EHLO client.test\r\n")
      yield* client.reply
      const line = "y".repeat(1022) + "\r\n"
      for (let message = 0; message < 2; message++) {
        yield* client.write("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        expect(yield* client.status).toMatch(/^250 2\.1\.0/)
        expect(yield* client.status).toMatch(/^250 2\.1\.5/)
        expect(yield* client.status).toMatch(/^354 /)
        for (let i = 0; i < 1024; i++) {
          yield* client.write(line)
          if (i % 64 === 0) yield* Effect.sleep("1 millis")
        }
        yield* client.write(".\r\n")
        expect(yield* client.status).toMatch(/^250 2\.0\.0/)
      }
      yield* client.write("QUIT\r\n")
      expect(yield* client.status).toMatch(/^221 2\.0\.0/)
      yield* client.closed
      expect(delta(before, yield* counts)).toEqual({ accepted: 2, rejected: 0, bytes: 2 * 1024 * 1024 })
    }).pipe(Effect.provide(nodeServer()))
  )
})

describe("hooks in their own fibers over real sockets", () => {
  it.live("a MAIL hook that waits: what the client sends meanwhile is held, then answered in order", () =>
    Effect.gen(function* () {
      const bodies: Array<number> = []
      const rcpts: Array<string> = []
      const handler = MessageHandler.layer({
        mail: () => Effect.sleep("50 millis"),
        rcpt: (_, recipient) => Effect.sync(() => void rcpts.push(recipient.address)),
        data: (_, message) => Effect.map(Message.text(message), (text) => void bodies.push(text.length))
      })
      const before = yield* counts
      return yield* Effect.gen(function* () {
        const client = yield* connect("127.0.0.1", yield* port)
        expect((yield* client.status).slice(0, 4)).toBe("220 ")
        yield* client.write("EHLO client.test\r\n")
        yield* client.reply
        // a small message (kept, then its hook called) and one over 64 KiB (read by the fiber)
        for (const size of [4 * 1024, 100 * 1024]) {
          yield* client.write("MAIL FROM:<a@example.com>\r\n")
          yield* Effect.sleep("10 millis")
          expect(rcpts.length).toBe(bodies.length)
          yield* client.write("RCPT TO:<b@example.com>\r\nDATA\r\n")
          expect(yield* client.status).toMatch(/^250 2\.1\.0/)
          expect(yield* client.status).toMatch(/^250 2\.1\.5/)
          expect(yield* client.status).toMatch(/^354 /)
          yield* client.write(`${"z".repeat(1022)}\r\n`.repeat(size / 1024) + ".\r\n")
          expect(yield* client.status).toMatch(/^250 2\.0\.0/)
        }
        yield* client.write("QUIT\r\n")
        expect(yield* client.status).toMatch(/^221 2\.0\.0/)
        yield* client.closed
        expect(rcpts).toEqual(["b@example.com", "b@example.com"])
        expect(bodies).toEqual([4 * 1024, 100 * 1024])
        expect(delta(before, yield* counts)).toEqual({ accepted: 2, rejected: 0, bytes: 104 * 1024 })
      }).pipe(Effect.provide(handlerServer(handler)))
    })
  )
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

const text = (bytes: Uint8Array | Transport.TakenInline | undefined) =>
  bytes === undefined ? "(end)" : bytes instanceof Transport.TakenInline ? "(taken)" : Buffer.from(bytes).toString()

// a session's inline side: `take` says whether it handled the chunk; it then waits a minute
const session = (take: Transport.Inline["take"], wake: () => void = () => {}): Transport.Parked => ({
  take,
  waitMs: () => 60_000,
  wake
})

describe("NodeTransport parking", () => {
  it.live("chunks go to inline while it keeps the park; the one it leaves wakes the session once", () =>
    Effect.gen(function* () {
      const { client, transport } = yield* socketPair
      assert(transport.park !== undefined)
      const taken: Array<string> = []
      const signal = wakeSignal()
      const parked = transport.park.start(
        session((chunk) => {
          taken.push(text(chunk))
          return text(chunk).startsWith("AUTH") ? "NeedsFiber" : "Handled"
        }, signal.wake),
        60_000
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
      expect(
        transport.park!.start(
          session(() => "Handled", signal.wake),
          100
        )
      ).toBe(true)
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
      expect(
        transport.park!.start(
          session(() => "Handled", signal.wake),
          60_000
        )
      ).toBe(true)
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
        session(() => {
          throw new Error("boom")
        }, signal.wake),
        60_000
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
          transport.readInline!(
            Duration.seconds(2),
            session((chunk) => {
              taken.push(text(chunk))
              if (text(chunk).startsWith("boom")) throw new Error("boom")
              return "Handled"
            })
          )
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
          session(() => "Handled"),
          60_000
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
