// What the LMTP and CHUNKING interop tests (issue 14) share: a temporary directory, the built
// command as a scoped process, and an in-process LMTP server, on TCP and on a Unix socket at
// once, whose `data` hook answers each recipient on its own.
import { Context, Effect, Layer, Ref } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Verdicts from "../../src/handler/Verdicts.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"

/** A temporary directory (short: a Unix socket's path must fit in 108 bytes), removed with the scope. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "esmtpd-i14-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** The built command, running: its pid (for /proc), the port it said it listens on, its stdout. */
export interface Command {
  readonly pid: number
  readonly port: number
  readonly stdout: () => string
}

/**
 * Runs the built command until the scope closes (SIGTERM, then it is awaited): started once its
 * stderr says it listens on 127.0.0.1 (the port is that line's).
 */
export const command = (main: string, args: ReadonlyArray<string>): Effect.Effect<Command, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ readonly child: ChildProcess.ChildProcess; readonly command: Command }, Error>((resume) => {
      const child = ChildProcess.spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      let started = false
      const fail = (why: string) => {
        if (!started) resume(Effect.fail(new Error(`effect-smtpd ${args.join(" ")}: ${why}\n${stderr}`)))
        started = true
      }
      const timer = setTimeout(() => fail("no listening line within 30 s"), 30_000)
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
        const listening = /listening on (?:[^\n]*, )?127\.0\.0\.1:(\d+)/.exec(stderr)
        if (listening === null || started) return
        started = true
        clearTimeout(timer)
        resume(
          Effect.succeed({ child, command: { pid: child.pid!, port: Number(listening[1]), stdout: () => stdout } })
        )
      })
      // "close", not "exit": by then stderr has been read to its end, for the message
      child.on("close", (code) => (clearTimeout(timer), fail(`exited ${code}`)))
      return Effect.sync(() => (clearTimeout(timer), child.kill("SIGKILL")))
    }),
    ({ child }) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  ).pipe(Effect.map(({ command }) => command))

/** What the LMTP server stored: one entry per message, with the recipients it accepted. */
export interface Stored {
  readonly accepted: ReadonlyArray<string>
  readonly data: Uint8Array
}

/**
 * The verdict for one recipient after the data, by its local part: `full…` is a temporary
 * refusal (`452 4.2.2`, RFC 3463's mailbox full), `gone…` a permanent one (`550 5.1.1`);
 * everyone else gets the message.
 */
export const verdictFor = (recipient: string): Verdicts.Verdict =>
  recipient.startsWith("full")
    ? Reply.make(452, "4.2.2", `<${recipient}> Mailbox full`)
    : recipient.startsWith("gone")
      ? new SmtpError.MailboxNotFound({ text: `<${recipient}> No such mailbox` })
      : undefined

const perRecipientHandler = (stored: Ref.Ref<ReadonlyArray<Stored>>) =>
  MessageHandler.make({
    data: (_session, message) =>
      Effect.gen(function* () {
        const data = yield* Message.bytes(message)
        const recipients = Message.rcptTos(message)
        const accepted = recipients.filter((recipient) => verdictFor(recipient) === undefined)
        yield* Ref.update(stored, (all) => [...all, { accepted, data }])
        return Verdicts.perRecipient(recipients.map(verdictFor))
      })
  })

export interface LmtpServer {
  readonly port: number
  /** The Unix socket's path. */
  readonly socket: string
  readonly stored: Effect.Effect<ReadonlyArray<Stored>>
}

/** An LMTP server (`lmtp: true`) on 127.0.0.1:0 and on `dir`/lmtp.sock, answering by `verdictFor`. */
export const lmtpServer = (dir: string): Effect.Effect<LmtpServer, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const stored = yield* Ref.make<ReadonlyArray<Stored>>([])
    const socket = Path.join(dir, "lmtp.sock")
    const context = yield* Layer.build(
      NodeSmtpServer.layer({
        listen: ["127.0.0.1:0", `unix:${socket}`],
        hostname: "lmtp.test",
        lmtp: true,
        shutdownGrace: "1 second"
      }).pipe(Layer.provide(Layer.succeed(MessageHandler.MessageHandler, perRecipientHandler(stored))))
    )
    const server = Context.get(context, SmtpServer)
    const tcp = server.addresses.find((endpoint) => !endpoint.address.startsWith("unix:"))!
    return { port: tcp.port, socket, stored: Ref.get(stored) }
  })

/** The replies of a raw conversation, each whole (its lines joined with CRLF, without the last). */
const splitReplies = (received: string): Array<string> => {
  const replies: Array<string> = []
  let rest = received
  let match: RegExpExecArray | null
  while ((match = /^(?:\d{3}-[^\n]*\n)*\d{3} [^\n]*\r\n/.exec(rest)) !== null) {
    replies.push(match[0].slice(0, -2))
    rest = rest.slice(match[0].length)
  }
  if (rest !== "") replies.push(`unparsed: ${JSON.stringify(rest)}`)
  return replies
}

/**
 * A raw conversation over node:net: after the greeting, `EHLO client.example` and its reply,
 * then every piece of `pipelined` written without waiting for a reply (each written once the one
 * before is handed to the kernel: backpressure without holding more than a piece), then QUIT.
 * Gives every reply, greeting first, once the server has closed the connection.
 */
export const rawExchange = (
  port: number,
  pipelined: Iterable<Uint8Array | string>
): Effect.Effect<ReadonlyArray<string>, Error> =>
  Effect.callback<ReadonlyArray<string>, Error>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let received = ""
    let phase: "greeting" | "ehlo" | "pipelined" = "greeting"
    const write = (piece: Uint8Array | string) =>
      new Promise<void>((done, failed) =>
        socket.write(typeof piece === "string" ? Buffer.from(piece, "latin1") : piece, (e) => (e ? failed(e) : done()))
      )
    const writeAll = async () => {
      for (const piece of pipelined) await write(piece)
      await write("QUIT\r\n")
    }
    socket.setTimeout(60_000, () => socket.destroy(new Error(`stalled; so far: ${received.slice(-2000)}`)))
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1")
      if (phase === "greeting" && /^\d{3} [^\n]*\n/m.test(received)) {
        phase = "ehlo"
        socket.write("EHLO client.example\r\n")
      } else if (phase === "ehlo" && /\n\d{3} [^\n]*\n$/.test(received)) {
        phase = "pipelined"
        writeAll().catch((error: Error) => socket.destroy(error))
      }
    })
    socket.on("close", () => resume(Effect.succeed(splitReplies(received))))
    socket.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  })
