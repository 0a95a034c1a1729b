// HAProxy in front of the server, speaking the PROXY protocol (v1 `send-proxy`, v2
// `send-proxy-v2`) over IPv4 and IPv6 frontends. HAProxy always reaches the server from
// 127.0.0.1, so the client's own address can only come from the header:
//
// - over IPv4 the client binds 127.0.0.2, which differs from HAProxy's 127.0.0.1; HAProxy then
//   sends `PROXY TCP4 127.0.0.2 127.0.0.1 <client port> <frontend port>` (v2: AF_INET, STREAM);
// - over IPv6 the client is ::1 (the only IPv6 loopback), which differs from the 127.0.0.1 the
//   server sees; HAProxy sends `PROXY TCP6 ::1 ::1 …` (v2: AF_INET6, STREAM);
// - in both cases the client's port is its own, not HAProxy's outgoing one.
//
// The first group checks what HAProxy really sends against our parser, with no SMTP server; the
// others run the server with `proxyProtocolFrom`.
import { assert, describe, expect, it } from "@effect/vitest"
import { Console, Effect, Layer, Schedule } from "effect"
import type { Scope } from "effect"
import * as Net from "node:net"
import * as Debugging from "../../src/handlers/Debugging.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as ProxyHeader from "../../src/protocol/ProxyHeader.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { type Frontend, haproxy } from "../utils/haproxy.js"
import { pythonOk } from "../utils/process.js"
import * as TestTls from "../utils/tls.js"
import { type TestServer, withServer } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"

const trusted = ["127.0.0.1/32", "::1/128"]

// the client's address for each frontend: one HAProxy does not have, where the loopback allows it
const clientAddress = { v4: "127.0.0.2", v6: "::1" } as const

const cases = [
  { version: 1, family: "v4" },
  { version: 1, family: "v6" },
  { version: 2, family: "v4" },
  { version: 2, family: "v6" }
] as const

// --- raw TCP ---------------------------------------------------------------------------------

interface Captured {
  readonly port: number
  /** Waits (up to 5 s) until what one connection has brought satisfies `enough`, and returns it. */
  readonly connection: (enough: (bytes: Uint8Array) => boolean) => Effect.Effect<Uint8Array>
}

// a TCP server on 127.0.0.1:0 that only keeps what each connection sends
const capture: Effect.Effect<Captured, never, Scope.Scope> = Effect.gen(function* () {
  const connections: Array<Array<Buffer>> = []
  const sockets = new Set<Net.Socket>()
  const server = yield* Effect.acquireRelease(
    Effect.callback<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        const chunks: Array<Buffer> = []
        connections.push(chunks)
        sockets.add(socket)
        socket.on("data", (chunk: Buffer) => chunks.push(chunk))
        socket.on("error", () => {})
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )
  return {
    port: (server.address() as Net.AddressInfo).port,
    connection: (enough) =>
      Effect.suspend(() => {
        const found = connections.map((chunks) => Uint8Array.from(Buffer.concat(chunks))).find(enough)
        return found === undefined ? Effect.fail("not yet") : Effect.succeed(found)
      }).pipe(
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 500 }),
        Effect.catch(() =>
          Effect.die(
            new Error(`no connection brought enough: ${connections.map((c) => Buffer.concat(c).toString("hex"))}`)
          )
        )
      )
  }
})

interface Client {
  readonly local: ProxyHeader.Endpoint
  readonly destroy: Effect.Effect<void>
}

// connects from `localAddress`, sends `input`, stays open until destroyed
const connect = (frontend: Frontend, localAddress: string, input: string): Effect.Effect<Client, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host: frontend.host, port: frontend.port, localAddress })
      socket.once("connect", () => {
        socket.write(input)
        resume(Effect.succeed(socket))
      })
      socket.once("error", (error) => resume(Effect.fail(error)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(
    Effect.map((socket) => ({
      local: { address: socket.localAddress!, port: socket.localPort! },
      destroy: Effect.sync(() => socket.destroy())
    }))
  )

interface Exchange {
  /** Everything the server sent, as text. */
  readonly received: string
  /** Whether the server closed the connection (rather than our deadline ending it). */
  readonly closed: boolean
  /** Milliseconds from connecting to the close (or the deadline). */
  readonly elapsed: number
}

// connects directly to the server, sends `input` at once (if any), and reads until the server
// closes or `deadline` ms pass
const exchange = (
  server: TestServer,
  options: { readonly localAddress?: string; readonly input?: string; readonly deadline: number }
): Effect.Effect<Exchange> =>
  Effect.callback<Exchange>((resume) => {
    const socket = Net.connect({
      host: server.host,
      port: server.port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
    })
    let received = ""
    let started = Date.now()
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed({ received, closed, elapsed: Date.now() - started }))
    }
    const timer = setTimeout(() => finish(false), options.deadline)
    socket.once("connect", () => {
      started = Date.now()
      if (options.input !== undefined) socket.write(options.input)
    })
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1")
    })
    socket.on("error", () => finish(true))
    socket.on("end", () => finish(true))
    socket.on("close", () => finish(true))
    return Effect.sync(() => finish(false))
  })

// --- smtplib ---------------------------------------------------------------------------------

// sends one message through `frontend`, from `source` when given, over implicit TLS when `ca`
// is given (HAProxy passes the TLS through); prints the client's own address and port as the
// connection's other end sees them
const sendThrough = (frontend: Frontend, source: string | undefined, recipient: string, ca?: string) =>
  pythonOk(
    `
import json, smtplib, ssl, sys
host, port, source, recipient, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
address = (source, 0) if source else None
if ca:
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False
    s = smtplib.SMTP_SSL(host, port, timeout=15, source_address=address, context=context)
else:
    s = smtplib.SMTP(host, port, timeout=15, source_address=address)
local = s.sock.getsockname()
s.sendmail("sender@example.com", [recipient], b"Subject: through haproxy\\r\\n\\r\\nhello\\r\\n")
s.quit()
print(json.dumps({"address": local[0], "port": local[1]}))
`,
    [frontend.host, String(frontend.port), source ?? "", recipient, ca ?? ""]
  ).pipe(Effect.map((stdout) => JSON.parse(stdout.trim()) as ProxyHeader.Endpoint))

// --- tests -----------------------------------------------------------------------------------

describe("HAProxy", () => {
  describe.skipIf(skipWithout("haproxy"))("the headers it sends, read by ProxyHeader.parse", () => {
    for (const c of cases)
      it.live(`v${c.version} over IP${c.family}: the client's endpoint and the frontend's, then its bytes`, () =>
        Effect.gen(function* () {
          const target = yield* capture
          const proxy = yield* haproxy({ target: { host: "127.0.0.1", port: target.port }, version: c.version })
          const frontend = proxy[c.family]
          const input = "EHLO client.example\r\n"
          const client = yield* connect(frontend, clientAddress[c.family], input)
          expect(client.local.address).toBe(clientAddress[c.family])
          // the header and the client's bytes may come in separate reads: wait for the header first
          const bytes = yield* target.connection((bytes) => ProxyHeader.parse(bytes)._tag !== "Incomplete")
          const parsed = ProxyHeader.parse(bytes)
          assert.strictEqual(
            parsed._tag,
            "Complete",
            `${JSON.stringify(parsed)}: ${Buffer.from(bytes).toString("hex")}`
          )
          const complete = parsed as Extract<ProxyHeader.Parsed, { _tag: "Complete" }>
          expect(complete.header).toEqual({
            _tag: "Proxied",
            source: client.local,
            destination: { address: frontend.host, port: frontend.port }
          })
          if (c.version === 1) {
            const family = c.family === "v4" ? "TCP4" : "TCP6"
            expect(Buffer.from(bytes.subarray(0, complete.length)).toString("latin1")).toBe(
              `PROXY ${family} ${client.local.address} ${frontend.host} ${client.local.port} ${frontend.port}\r\n`
            )
          } else {
            // the fixed part and the addresses, no TLVs
            expect(complete.length).toBe(c.family === "v4" ? 16 + 12 : 16 + 36)
          }
          const all = yield* target.connection((bytes) => bytes.length >= complete.length + input.length)
          expect(Buffer.from(all.subarray(complete.length)).toString("latin1")).toBe(input)
          yield* client.destroy
        })
      )
  })

  describe("the server behind it, with proxyProtocolFrom", () => {
    for (const c of cases)
      it.live.skipIf(skipWithout("haproxy", "python3"))(
        `v${c.version} over IP${c.family}: the delivery's peer is the client, not HAProxy`,
        () =>
          Effect.gen(function* () {
            const server = yield* withServer({ proxyProtocolFrom: trusted })
            const proxy = yield* haproxy({ target: { host: server.host, port: server.port }, version: c.version })
            const recipient = `v${c.version}-${c.family}@example.com`
            const client = yield* sendThrough(
              proxy[c.family],
              c.family === "v4" ? clientAddress.v4 : undefined,
              recipient
            )
            expect(client.address).toBe(clientAddress[c.family])
            const deliveries = (yield* server.deliveries).filter((d) => d.rcptTos.includes(recipient))
            // not HAProxy's 127.0.0.1 and its own outgoing port
            expect(deliveries.map((d) => d.peer)).toEqual([client])
          })
      )

    for (const version of [1, 2] as const)
      it.live.skipIf(skipWithout("haproxy", "python3", "openssl"))(
        `v${version} in front of implicit TLS: the header before the handshake, the peer is the client`,
        () =>
          Effect.gen(function* () {
            const certs = yield* TestTls.make
            const server = yield* withServer({
              proxyProtocolFrom: trusted,
              tls: { certFile: certs.localhost.certFile, keyFile: certs.localhost.keyFile },
              tlsListen: "127.0.0.1:0"
            })
            const proxy = yield* haproxy({ target: { host: "127.0.0.1", port: server.tlsAddresses[0]!.port }, version })
            const recipient = `tls-v${version}@example.com`
            const client = yield* sendThrough(proxy.v4, clientAddress.v4, recipient, certs.ca.certFile)
            const deliveries = (yield* server.deliveries).filter((d) => d.rcptTos.includes(recipient))
            expect(deliveries.map((d) => d.peer)).toEqual([client])
          })
      )

    it.live.skipIf(skipWithout("haproxy", "python3"))("Debugging prints the client's address as X-Peer", () =>
      Effect.gen(function* () {
        const logged: Array<string> = []
        const current = yield* Console.Console
        const console: Console.Console = Object.assign(Object.create(current), {
          log: (...args: ReadonlyArray<unknown>) => void logged.push(args.join(" "))
        })
        const layer = NodeSmtpServer.layer({
          listen: "127.0.0.1:0",
          hostname: "mx.test",
          shutdownGrace: "1 second",
          proxyProtocolFrom: trusted
        }).pipe(Layer.provide(Debugging.layer()))
        yield* Effect.gen(function* () {
          const { addresses } = yield* SmtpServer
          const proxy = yield* haproxy({ target: { host: "127.0.0.1", port: addresses[0]!.port }, version: 2 })
          yield* sendThrough(proxy.v4, clientAddress.v4, "debug@example.com")
        }).pipe(Effect.scoped, Effect.provide(layer), Effect.provideService(Console.Console, console))
        expect(logged).toHaveLength(1)
        expect(logged[0]!.split("\n")).toContain("X-Peer: 127.0.0.2")
      })
    )

    it.live.skipIf(skipWithout("python3"))(
      "a peer not in proxyProtocolFrom gets 500 5.5.2 for a PROXY line, and goes on",
      () =>
        Effect.gen(function* () {
          const server = yield* withServer({ proxyProtocolFrom: trusted })
          const result = yield* pythonOk(
            `
import json, smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=15, source_address=("127.0.0.2", 0))
s.ehlo("client.example")
code, text = s.docmd("PROXY TCP4 192.0.2.1 192.0.2.2 1111 25")
s.sendmail("sender@example.com", ["untrusted@example.com"], b"Subject: direct\\r\\n\\r\\nhello\\r\\n")
local = s.sock.getsockname()
s.quit()
print(json.dumps({"code": code, "text": text.decode(), "port": local[1]}))
`,
            [server.host, String(server.port)]
          ).pipe(Effect.map((stdout) => JSON.parse(stdout.trim()) as { code: number; text: string; port: number }))
          expect(result.code).toBe(500)
          expect(result.text).toMatch(/^5\.5\.2 /)
          const deliveries = (yield* server.deliveries).filter((d) => d.rcptTos.includes("untrusted@example.com"))
          // the line changed nothing: the peer is the real one
          expect(deliveries.map((d) => d.peer)).toEqual([{ address: "127.0.0.2", port: result.port }])
        })
    )

    it.live("a trusted peer that sends SMTP instead of a header is closed, ungreeted", () =>
      Effect.gen(function* () {
        const server = yield* withServer({ proxyProtocolFrom: trusted, proxyTimeout: "10 seconds" })
        const result = yield* exchange(server, { input: "EHLO client.example\r\n", deadline: 5_000 })
        expect(result.closed).toBe(true)
        // closed on the first bytes, long before the header timeout
        expect(result.elapsed).toBeLessThan(2_000)
        expect(result.received).toBe("")
        expect(yield* server.deliveries).toEqual([])
      })
    )

    it.live("a trusted peer that sends a broken header is closed, ungreeted", () =>
      Effect.gen(function* () {
        const server = yield* withServer({ proxyProtocolFrom: trusted, proxyTimeout: "10 seconds" })
        const result = yield* exchange(server, {
          input: "PROXY TCP4 192.0.2.001 192.0.2.2 1 25\r\nEHLO client.example\r\n",
          deadline: 5_000
        })
        expect(result).toMatchObject({ closed: true, received: "" })
        expect(result.elapsed).toBeLessThan(2_000)
      })
    )

    it.live("bytes after the header in the same segment are the client's first: before the greeting, 554", () =>
      Effect.gen(function* () {
        const server = yield* withServer({ proxyProtocolFrom: trusted })
        const result = yield* exchange(server, {
          input: "PROXY TCP4 192.0.2.1 127.0.0.1 5555 25\r\nQUIT\r\n",
          deadline: 5_000
        })
        expect(result).toMatchObject({ closed: true, received: "554 Protocol error: talking out of turn\r\n" })
      })
    )

    it.live("a trusted peer that sends nothing is closed after proxyTimeout, ungreeted", () =>
      Effect.gen(function* () {
        const server = yield* withServer({ proxyProtocolFrom: trusted, proxyTimeout: "300 millis" })
        const result = yield* exchange(server, { deadline: 5_000 })
        expect(result.closed).toBe(true)
        expect(result.received).toBe("")
        // timers may fire a little early or late; the point is: after the timeout, not at once
        expect(result.elapsed).toBeGreaterThanOrEqual(250)
        expect(result.elapsed).toBeLessThan(3_000)
      })
    )

    it.live.skipIf(skipWithout("python3"))(
      "a trusted peer's header may come in pieces: no greeting before it is whole, then its client",
      () =>
        Effect.gen(function* () {
          const server = yield* withServer({ proxyProtocolFrom: trusted })
          // smtplib takes over the socket once the header is out (getreply makes its file)
          const result = yield* pythonOk(
            `
import json, smtplib, socket, sys, time
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
def pending():
    sock.setblocking(False)
    try:
        return sock.recv(100).decode("latin1")
    except BlockingIOError:
        return ""
    finally:
        sock.setblocking(True)
early = []
for piece in [b"PROXY TCP4 192.0.2.1 ", b"192.0.2.2 1111 25\\r"]:
    sock.sendall(piece)
    time.sleep(0.1)
    early.append(pending())
sock.sendall(b"\\n")
s = smtplib.SMTP()
s.sock = sock
greeting = s.getreply()
s.sendmail("sender@example.com", ["pieces@example.com"], b"Subject: pieces\\r\\n\\r\\nhello\\r\\n")
s.quit()
print(json.dumps({"early": early, "greeting": greeting[0]}))
`,
            [server.host, String(server.port)]
          ).pipe(Effect.map((stdout) => JSON.parse(stdout.trim()) as { early: Array<string>; greeting: number }))
          expect(result).toEqual({ early: ["", ""], greeting: 220 })
          const deliveries = (yield* server.deliveries).filter((d) => d.rcptTos.includes("pieces@example.com"))
          expect(deliveries.map((d) => d.peer)).toEqual([{ address: "192.0.2.1", port: 1111 }])
        })
    )
  })
})
