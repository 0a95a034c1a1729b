// The mail queue as an operator runs it (issue 15's process tests): the built command as a
// queue-mode relay in a child process (killed with SIGKILL, measured in /proc), its `queue`
// command, clients sending many numbered messages over several sessions at once, and an upstream
// in this process that keeps of each message only its envelope, header and a hash of its body,
// so that 100 MiB pass through it without being held.
import { Clock, Context, Effect, Layer, Stream } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { runProcess } from "./process.js"

// --- the relay -------------------------------------------------------------------------------

export interface RelayProcess {
  readonly pid: number
  readonly port: number
  readonly stderr: () => string
  /** Sends `signal` and waits for the process to exit. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

/** The built command `main` with `args`, once it says it listens; SIGKILLed when the scope closes. */
export const relay = (main: string, args: ReadonlyArray<string>): Effect.Effect<RelayProcess, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ child: ChildProcess.ChildProcess; relay: RelayProcess }, Error>((resume) => {
      const child = ChildProcess.spawn(process.execPath, [main, ...args], { stdio: ["ignore", "ignore", "pipe"] })
      const exited = new Promise<void>((done) => child.once("exit", () => done()))
      let stderr = ""
      let done = false
      const finish = (effect: Effect.Effect<{ child: ChildProcess.ChildProcess; relay: RelayProcess }, Error>) => {
        if (done) return
        done = true
        clearTimeout(timer)
        resume(effect)
      }
      const timer = setTimeout(() => finish(Effect.fail(new Error(`no listening line: ${stderr}`))), 30_000)
      child.stderr!.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
        const port = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]
        if (port === undefined) return
        const kill = (signal: NodeJS.Signals) =>
          Effect.promise(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal)
            return exited
          })
        finish(Effect.succeed({ child, relay: { pid: child.pid!, port: Number(port), stderr: () => stderr, kill } }))
      })
      child.once("exit", (code) => finish(Effect.fail(new Error(`exited ${code} before listening: ${stderr}`))))
      child.once("error", (error) => finish(Effect.fail(error)))
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    ({ relay }) => relay.kill("SIGKILL")
  ).pipe(Effect.map(({ relay }) => relay))

/** A message as `queue list --json` prints it (the fields these tests look at). */
export interface Listed {
  readonly id: string
  readonly size: number
  readonly attempts: number
  readonly recipients: ReadonlyArray<{ readonly address: string; readonly state: string }>
}

/** `effect-smtpd queue ARGS --json --queue QUEUE`, run to its end: its output parsed. */
export const queueCommand = (main: string, queue: string, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const result = yield* runProcess(process.execPath, [main, "queue", ...args, "--json", "--queue", queue], {
      timeout: "30 seconds"
    }).pipe(Effect.orDie)
    if (result.exitCode !== 0) return yield* Effect.die(new Error(`queue ${args.join(" ")}: ${result.stderr}`))
    return JSON.parse(result.stdout) as unknown
  })

/** What `queue list` shows. */
export const queueList = (main: string, queue: string) =>
  Effect.map(queueCommand(main, queue, ["list"]), (out) => out as ReadonlyArray<Listed>)

/** KiB as MiB with one decimal, for reports. */
export const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`

/** Resident set size of a process in KiB: now and at its peak (Linux VmRSS, VmHWM). */
export const memory = (pid: number) =>
  Effect.sync(() => {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1])
    return { rss: field("VmRSS"), peak: field("VmHWM") }
  })

// --- clients ---------------------------------------------------------------------------------

/** A message to send: its envelope and its content (without the final dot), or a size to make up. */
export interface Outgoing {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly content: string | { readonly header: string; readonly bodySize: number }
}

/** The body of a made-up message of `size` bytes: lines of 78 characters + CRLF, never a dot first. */
export const madeUpBody = (size: number): Buffer => {
  const line = Buffer.from("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef\r\n")
  const body = Buffer.alloc(size)
  for (let at = 0; at < size; at += line.length) line.copy(body, at, 0, Math.min(line.length, size - at))
  if (size >= 2) body.write("\r\n", size - 2)
  return body
}

/** A small test message with its number in the subject (what the upstream counts by). */
export const numbered = (prefix: string, n: number, to: ReadonlyArray<string> = ["rcpt@example.net"]): Outgoing => ({
  from: "sender@example.com",
  to,
  content: `From: <sender@example.com>\r\nSubject: ${prefix}-${n}\r\n\r\nMessage ${n} of ${prefix}.\r\n`
})

// one connection's replies in order, each whole (multi-line replies joined)
const connect = (port: number) =>
  new Promise<{ socket: Net.Socket; reply: () => Promise<string> }>((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const replies: Array<string> = []
    const waiting: Array<(reply: string) => void> = []
    let buffer = ""
    let closed = false
    const push = (reply: string) => (waiting.length > 0 ? waiting.shift()!(reply) : replies.push(reply))
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1")
      let match: RegExpExecArray | null
      while ((match = /^(?:\d{3}-[^\n]*\n)*\d{3} [^\n]*\n/.exec(buffer)) !== null) {
        buffer = buffer.slice(match[0].length)
        push(match[0].trimEnd())
      }
    })
    const close = () => {
      closed = true
      while (waiting.length > 0) waiting.shift()!("closed")
    }
    socket.on("close", close)
    socket.on("error", (error) => (closed ? undefined : replies.length === 0 ? reject(error) : close()))
    socket.once("connect", () =>
      resolve({
        socket,
        reply: () =>
          replies.length > 0
            ? Promise.resolve(replies.shift()!)
            : closed
              ? Promise.resolve("closed")
              : new Promise((done) => waiting.push(done))
      })
    )
  })

const write = (socket: Net.Socket, data: string | Buffer) =>
  new Promise<void>((resolve) => (socket.write(data) ? resolve() : socket.once("drain", () => resolve())))

// sends the content dot-stuffed, a made-up body in pieces of 1 MiB as the socket drains
const sendContent = async (socket: Net.Socket, content: Outgoing["content"]) => {
  if (typeof content === "string") return write(socket, content.replace(/^\./gm, ".."))
  await write(socket, content.header)
  const body = madeUpBody(content.bodySize)
  for (let at = 0; at < body.length; at += 1 << 20) await write(socket, body.subarray(at, at + (1 << 20)))
}

// one session: each message in turn; its reply to the end of data ("closed" if the server went)
const session = async (port: number, messages: ReadonlyArray<Outgoing>): Promise<Array<string>> => {
  const out: Array<string> = []
  const { reply, socket } = await connect(port)
  try {
    await reply()
    await write(socket, "EHLO client.test\r\n")
    await reply()
    for (const message of messages) {
      const steps = [`MAIL FROM:<${message.from}>\r\n`, ...message.to.map((r) => `RCPT TO:<${r}>\r\n`), "DATA\r\n"]
      let last = ""
      for (const step of steps) {
        await write(socket, step)
        last = await reply()
        if (!/^[23]/.test(last)) break
      }
      if (!last.startsWith("354")) {
        out.push(last)
        if (last !== "closed") await write(socket, "RSET\r\n").then(reply)
        continue
      }
      // the content ends with CRLF: the dot line follows it
      await sendContent(socket, message.content)
      await write(socket, ".\r\n")
      out.push(await reply())
    }
    await write(socket, "QUIT\r\n")
  } finally {
    socket.destroy()
  }
  return out
}

/**
 * Sends `messages` over `sessions` connections at once (message i on session i % sessions);
 * each message's reply to its end of data, in the order given. A session that cannot connect
 * gives "error: …" for its messages.
 */
export const send = (port: number, messages: ReadonlyArray<Outgoing>, sessions = 1) =>
  Effect.promise(async () => {
    const shares = Array.from({ length: sessions }, (_, s) => messages.filter((_, i) => i % sessions === s))
    const results = await Promise.all(
      shares.map((share) => session(port, share).catch((error: Error) => share.map(() => `error: ${error.message}`)))
    )
    return messages.map((_, i) => results[i % sessions]![Math.floor(i / sessions)] ?? "no reply")
  })

// --- the upstream ----------------------------------------------------------------------------

/** What the upstream took: one entry per message (one per transaction). */
export interface Took {
  readonly mailFrom: string
  readonly rcptTos: ReadonlyArray<string>
  /** The header section, as delivered (the relay's Received: and X-Peer: on top). */
  readonly header: string
  readonly subject: string
  /** The whole message's size and the SHA-256 of its body (what follows the header section). */
  readonly size: number
  readonly bodyHash: string
  /** The whole message, when under 1 MiB. */
  readonly bytes: Uint8Array | undefined
  readonly at: number
}

export interface Upstream {
  readonly port: number
  readonly took: () => ReadonlyArray<Took>
}

/** The upstream's choices: RCPT refused with 550 5.1.1, a wait before its reply to the data. */
export interface UpstreamOptions {
  readonly port?: number | undefined
  readonly refuse?: ((address: string) => boolean) | undefined
  readonly delay?: number | undefined
}

// the header section and the hash of what follows it, from the body's pieces as they come
const digest = (pieces: Stream.Stream<Uint8Array, unknown>) =>
  Effect.gen(function* () {
    const hash = Crypto.createHash("sha256")
    let head = Buffer.alloc(0)
    let header: string | undefined
    let size = 0
    const small: Array<Uint8Array> = []
    yield* Stream.runForEach(pieces, (piece) =>
      Effect.sync(() => {
        size += piece.length
        if (size < 1 << 20) small.push(piece)
        if (header !== undefined) return void hash.update(piece)
        head = Buffer.concat([head, piece])
        const end = head.indexOf("\r\n\r\n")
        if (end === -1 && head.length < 1 << 20) return
        const split = end === -1 ? head.length : end + 4
        header = head.subarray(0, split).toString("latin1")
        hash.update(head.subarray(split))
      })
    )
    const bytes = size < 1 << 20 ? new Uint8Array(Buffer.concat(small)) : undefined
    return { header: header ?? head.toString("latin1"), size, bodyHash: hash.digest("hex"), bytes }
  })

/** Our server on 127.0.0.1 (`port`, or a free one) as the relay's upstream, for the scope. */
export const upstream = (options: UpstreamOptions = {}): Effect.Effect<Upstream, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const took: Array<Took> = []
    const handler = MessageHandler.make({
      rcpt: (_session, recipient) =>
        options.refuse?.(recipient.address) === true
          ? Effect.fail(new SmtpError.MailboxNotFound({ text: "No such user here" }))
          : Effect.void,
      data: (_session, message) =>
        Effect.gen(function* () {
          const { bodyHash, bytes, header, size } = yield* digest(message.body)
          if (options.delay !== undefined) yield* Effect.sleep(options.delay)
          took.push({
            mailFrom: message.envelope.mailFrom,
            rcptTos: Message.rcptTos(message),
            header,
            subject: /^Subject: (.*)$/im.exec(header)?.[1]?.trim() ?? "",
            size,
            bodyHash,
            bytes,
            at: yield* Clock.currentTimeMillis
          })
        }).pipe(Effect.orDie)
    })
    const context = yield* Layer.build(
      NodeSmtpServer.layer({
        listen: `127.0.0.1:${options.port ?? 0}`,
        hostname: "upstream.test",
        maxMessageSize: 0,
        shutdownGrace: 0
      }).pipe(Layer.provide(Layer.succeed(MessageHandler.MessageHandler, handler)))
    )
    return { port: Context.get(context, SmtpServer).addresses[0]!.port, took: () => took }
  })

/** How many times each subject reached the upstream (notices from <> left out). */
export const countBySubject = (took: ReadonlyArray<Took>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const t of took) if (t.mailFrom !== "") counts.set(t.subject, (counts.get(t.subject) ?? 0) + 1)
  return counts
}

/** Polls `check` every 200 ms until it holds or `ms` pass; whether it held. */
export const eventually = (check: () => boolean, ms: number) =>
  Effect.gen(function* () {
    const end = Date.now() + ms
    while (!check() && Date.now() < end) yield* Effect.sleep("200 millis")
    return check()
  })

/**
 * Sends numbered messages (`prefix-0`, `prefix-1`, …) over `sessions` connections, each session
 * one after another, until `stop()` holds; a session the server closes connects again. Each
 * message's subject with its reply to the end of data.
 */
export const sendUntil = (port: number, prefix: string, sessions: number, stop: () => boolean) =>
  Effect.promise(async () => {
    const sent: Array<{ subject: string; reply: string }> = []
    let next = 0
    const loop = async () => {
      while (!stop()) {
        const n = next++
        const [reply] = await session(port, [numbered(prefix, n)]).catch((error: Error) => [`error: ${error.message}`])
        sent.push({ subject: `${prefix}-${n}`, reply: reply ?? "no reply" })
      }
    }
    await Promise.all(Array.from({ length: sessions }, loop))
    return sent
  })
