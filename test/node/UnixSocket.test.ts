import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import type { Scope } from "effect"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as Os from "node:os"
import * as Path from "node:path"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as Listening from "../../src/node/Listening.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import * as TestTls from "../utils/tls.js"
import { skipWithout } from "../utils/tools.js"

const server = (options: NodeSmtpServer.Options) =>
  NodeSmtpServer.layer({ hostname: "test.example", ...options }).pipe(Layer.provideMerge(Recording.layer))

// a temporary directory for the socket, removed with the scope
const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-unix-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

// Sends `lines` one by one over the socket at `path` and gives each reply's last line.
const converse = (path: string, lines: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>, Error> =>
  Effect.callback<ReadonlyArray<string>, Error>((resume) => {
    const socket = Net.connect({ path })
    const replies: Array<string> = []
    let buffer = ""
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1")
      let match: RegExpExecArray | null
      while ((match = /^(?:\d{3}-[^\n]*\n)*(\d{3} [^\r\n]*)\r\n/.exec(buffer)) !== null) {
        buffer = buffer.slice(match[0].length)
        replies.push(match[1]!)
        const next = lines[replies.length - 1]
        if (next !== undefined) socket.write(next)
      }
    })
    socket.on("close", () => resume(Effect.succeed(replies)))
    socket.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("10 seconds"))

const unixEnd = (path: string) => ({ address: `unix:${path}`, port: 0 })

const opening = ["EHLO c\r\n", "MAIL FROM:<a@b.example>\r\n", "RCPT TO:<c@d.example>\r\n", "DATA\r\n"]
const message = [...opening, "over a Unix socket\r\n.\r\n", "QUIT\r\n"]

// a socket file whose process has died: the file stays, nobody listens
const leaveStaleSocket = (path: string) => {
  const script = `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`
  spawnSync(process.execPath, ["-e", script], { timeout: 10_000 })
  expect(Fs.lstatSync(path).isSocket()).toBe(true)
}

const listenFails = (options: NodeSmtpServer.Options): Effect.Effect<string, never, Scope.Scope> =>
  Effect.map(Effect.exit(Layer.build(server(options))), (exit) => {
    assert(Exit.isFailure(exit))
    return String(exit.cause)
  })

describe("NodeSmtpServer on a Unix socket", () => {
  it.live("serves a session, reports unix:/path as the peer, and removes the file when it stops", () =>
    Effect.gen(function* () {
      const path = Path.join(yield* tempDir, "smtp.sock")
      const replies = yield* Effect.gen(function* () {
        const { addresses } = yield* SmtpServer
        expect(addresses).toEqual([{ address: `unix:${path}`, port: 0 }])
        expect(Fs.statSync(path).mode & 0o777).toBe(Listening.defaultUnixMode)
        const replies = yield* converse(path, message)
        const [delivery] = yield* Recording.deliveries
        expect(delivery?.peer).toEqual({ address: `unix:${path}`, port: 0 })
        expect(new TextDecoder().decode(delivery?.data)).toBe("over a Unix socket\r\n")
        return replies
      }).pipe(Effect.provide(server({ listen: [`unix:${path}`] })), Effect.scoped)
      expect(replies[0]).toBe("220 test.example ESMTP effect-smtpd")
      expect(replies.at(-2)).toMatch(/^250 2\.0\.0/)
      expect(replies.at(-1)).toMatch(/^221 /)
      expect(Fs.existsSync(path)).toBe(false)
    }).pipe(Effect.scoped)
  )

  it.live("listens on TCP and a Unix socket at once, with the socket's mode from the address", () =>
    Effect.gen(function* () {
      const path = Path.join(yield* tempDir, "lmtp.sock")
      const seen: Array<SessionInfo> = []
      const handler = Layer.succeed(
        MessageHandler.MessageHandler,
        MessageHandler.make({ connect: (session) => Effect.sync(() => void seen.push(session)) })
      )
      yield* Effect.gen(function* () {
        const { addresses } = yield* SmtpServer
        expect(addresses.map((a) => a.address)).toEqual(["127.0.0.1", `unix:${path}`])
        expect(Fs.statSync(path).mode & 0o777).toBe(0o600)
        expect((yield* converse(path, ["QUIT\r\n"]))[1]).toMatch(/^221 /)
      }).pipe(
        Effect.provide(
          NodeSmtpServer.layer({ listen: ["127.0.0.1:0", `unix:${path}?mode=0600`] }).pipe(Layer.provide(handler))
        ),
        Effect.scoped
      )
      expect(seen.map((s) => [s.peer, s.local])).toEqual([[unixEnd(path), unixEnd(path)]])
    }).pipe(Effect.scoped)
  )

  it.live("replaces a socket file that a dead process left", () =>
    Effect.gen(function* () {
      const path = Path.join(yield* tempDir, "stale.sock")
      leaveStaleSocket(path)
      const replies = yield* converse(path, message).pipe(
        Effect.provide(server({ listen: `unix:${path}` })),
        Effect.scoped
      )
      expect(replies.at(-2)).toMatch(/^250 2\.0\.0/)
      expect(Fs.existsSync(path)).toBe(false)
    }).pipe(Effect.scoped)
  )

  it.live("does not take over a socket that a live process listens on", () =>
    Effect.gen(function* () {
      const path = Path.join(yield* tempDir, "live.sock")
      // (the check's connection goes away at once: a reset here)
      const other = Net.createServer((socket) => socket.on("error", () => {}).end("other\r\n"))
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => void other.listen(path, () => resume(Effect.void))),
        () => Effect.sync(() => other.close())
      )
      const cause = yield* listenFails({ listen: `unix:${path}` })
      expect(cause).toContain("ListenError")
      expect(cause).toContain("address in use")
      // the other process still has its socket, and still answers on it
      const answer = yield* Effect.callback<string>((resume) => {
        const socket = Net.connect({ path })
        socket.on("error", () => {})
        socket.on("data", (chunk) => {
          socket.destroy()
          resume(Effect.succeed(chunk.toString()))
        })
      }).pipe(Effect.timeout("10 seconds"))
      expect(answer).toBe("other\r\n")
    }).pipe(Effect.scoped)
  )

  it.live("never removes a file that is not a socket, and refuses a malformed mode", () =>
    Effect.gen(function* () {
      const path = Path.join(yield* tempDir, "mailbox")
      Fs.writeFileSync(path, "keep me")
      const cause = yield* listenFails({ listen: `unix:${path}` })
      expect(cause).toContain("ListenError")
      expect(cause).toContain("not a socket")
      expect(Fs.readFileSync(path, "utf8")).toBe("keep me")
      const malformed = yield* listenFails({ listen: `unix:${path}.sock?mode=999` })
      expect(malformed).toContain("ListenError")
      expect(Fs.existsSync(`${path}.sock`)).toBe(false)
    }).pipe(Effect.scoped)
  )

  it("parses unix:/path with and without a mode", () => {
    expect(Listening.parseUnix("unix:/run/lmtp.sock")).toEqual({ path: "/run/lmtp.sock", mode: 0o660 })
    expect(Listening.parseUnix("unix:/run/lmtp.sock?mode=0666")).toEqual({ path: "/run/lmtp.sock", mode: 0o666 })
    expect(Listening.parseUnix("unix:/run/lmtp.sock?mode=640")).toEqual({ path: "/run/lmtp.sock", mode: 0o640 })
    expect(Listening.parseUnix("unix:")).toBeUndefined()
    expect(Listening.parseUnix("unix:/x?mode=0888")).toBeUndefined()
    expect(Listening.parseUnix("127.0.0.1:25")).toBeUndefined()
  })

  // the certificates are made with openssl
  it.live.skipIf(skipWithout("openssl"))("serves implicit TLS on a Unix socket (tlsListen)", () =>
    Effect.gen(function* () {
      const path = Path.join(yield* tempDir, "smtps.sock")
      const certs = yield* TestTls.make
      const seen: Array<SessionInfo> = []
      const handler = Layer.succeed(
        MessageHandler.MessageHandler,
        MessageHandler.make({ connect: (session) => Effect.sync(() => void seen.push(session)) })
      )
      const greeting = yield* Effect.callback<string, Error>((resume) => {
        const socket = Tls.connect({ path, ca: certs.ca.cert, servername: "localhost" })
        socket.on("error", (error) => resume(Effect.fail(error)))
        socket.once("data", (chunk: Buffer) => {
          socket.destroy()
          resume(Effect.succeed(chunk.toString()))
        })
      }).pipe(
        Effect.timeout("10 seconds"),
        Effect.provide(
          NodeSmtpServer.layer({
            hostname: "test.example",
            listen: [],
            tls: { certFile: certs.localhost.certFile, keyFile: certs.localhost.keyFile },
            tlsListen: `unix:${path}`
          }).pipe(Layer.provide(handler))
        ),
        Effect.scoped
      )
      expect(greeting).toMatch(/^220 test\.example /)
      expect(seen.map((s) => [s.peer, s.secure])).toEqual([[unixEnd(path), true]])
      expect(Fs.existsSync(path)).toBe(false)
    }).pipe(Effect.scoped)
  )
})
