// Helpers for the relay and router tests: a server whose handler needs the SMTP client, an
// upstream of our own with a refusal policy, handlers that record what their route saw, an
// smtplib client that reports every reply, and SMTP conversations for scripted fake upstreams.
import { SqliteClient } from "@effect/sql-sqlite-node"
import { expect } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Layer, Ref, Stream } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type * as SmtpClient from "../../src/client/SmtpClient.js"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import type * as Refusals from "../../src/handlers/Refusals.js"
import * as Relay from "../../src/handlers/Relay.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as Framer from "../../src/protocol/Framer.js"
import * as Reply from "../../src/protocol/Reply.js"
import type * as Session from "../../src/protocol/Session.js"
import * as Backoff from "../../src/queue/Backoff.js"
import * as Delivery from "../../src/queue/Delivery.js"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as SqlMailQueue from "../../src/queue/SqlMailQueue.js"
import type { ConfigError } from "../../src/server/ServerConfig.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { type ListenError, SmtpServer } from "../../src/server/SmtpServer.js"
import { runProcess } from "./process.js"
import { smtplibPrelude } from "./server.js"
import { python3 } from "./tools.js"
import type { FakeClosed, FakePeer } from "./upstreams.js"

/** Short client timeouts, so that a dead upstream costs a test a fraction of a second. */
export const quick: Partial<SmtpClient.Timeouts> = {
  connect: "300 millis",
  greeting: "300 millis",
  command: "500 millis",
  mail: "500 millis",
  rcpt: "500 millis",
  dataInit: "500 millis",
  dataBlock: "2 seconds",
  dataEnd: "500 millis"
}

export interface Listening {
  readonly host: string
  readonly port: number
}

/**
 * Our server on 127.0.0.1:0 named `relay.test` with `handler` (which may need the SMTP client:
 * the Node one is provided), in the current scope.
 */
export const withHandler = <E>(
  handler: Layer.Layer<MessageHandler.MessageHandler, E, SmtpClient.SmtpClient>,
  options: NodeSmtpServer.Options = {}
): Effect.Effect<Listening, E | ConfigError | ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      NodeSmtpServer.layer({
        listen: "127.0.0.1:0",
        hostname: "relay.test",
        shutdownGrace: "1 second",
        ...options
      }).pipe(Layer.provide(handler), Layer.provide(NodeSmtpClient.layer))
    )
    const address = Context.get(context, SmtpServer).addresses[0]!
    return { host: address.address, port: address.port }
  })

// --- the relay in queue mode ------------------------------------------------------------------

export interface Queued extends Listening {
  /** The relay's queue, to look into. */
  readonly queue: MailQueue.Service
}

/**
 * `Relay.layer(options)` in queue mode behind our server (as `withHandler`), on a queue in a
 * temporary SQLite file with its Delivery to `options.upstream` running for the scope: it looks
 * for due messages every 50 ms and tries a deferred one again after `retry`.
 */
export const withQueuedRelay = (
  options: Relay.Options,
  retry: Duration.Input = "300 millis"
): Effect.Effect<Queued, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const filename = Path.join(yield* tempDir, "queue.db")
    const retryMs = Duration.toMillis(Duration.fromInputUnsafe(retry))
    const delivery = Delivery.layer({
      routes: { [Relay.routeOf(options.upstream)]: { ...options.upstream, heloName: "relay.test" } },
      hostname: "relay.test",
      pollInterval: "50 millis",
      deadRoute: retry,
      policy: Backoff.make({ minBackoffMs: retryMs, maxBackoffMs: retryMs, lifetimeMs: 60_000 })
    })
    const context = yield* Layer.build(
      delivery.pipe(
        Layer.provideMerge(SqlMailQueue.layer),
        Layer.provide(SqliteClient.layer({ filename })),
        Layer.provide(NodeSmtpClient.layer)
      )
    )
    const server = yield* withHandler(
      Relay.layer({ ...options, mode: "queue" }).pipe(Layer.provide(Layer.succeedContext(context)))
    )
    return { ...server, queue: Context.get(context, MailQueue.MailQueue) }
  })

// --- handlers that record ----------------------------------------------------------------------

export interface Recorded {
  readonly peer: string
  readonly mailFrom: string
  readonly mailParameters: ReadonlyArray<string>
  /** The recipients in the message's envelope. */
  readonly rcptTos: ReadonlyArray<string>
  /** The recipients in the session's envelope when `data` was called. */
  readonly sessionRcptTos: ReadonlyArray<string>
  /** The body as read (empty when the handler ignores it). */
  readonly data: Uint8Array
  /** When `data` returned (Clock millis). */
  readonly doneAt: number
}

export interface RecorderOptions {
  /** Refuse MAIL (the sender) with this error. */
  readonly mail?: ((from: string) => SmtpError.SmtpError | undefined) | undefined
  /** Refuse RCPT with this error. */
  readonly rcpt?: ((address: string) => SmtpError.SmtpError | undefined) | undefined
  /** How the body is read: all of it (default), all with a pause after each chunk, or not at all. */
  readonly body?: "read" | "ignore" | { readonly pause: Duration.Input } | undefined
  /** Fail `data` with this error after the body was read as `body` says. */
  readonly fail?: SmtpError.SmtpError | undefined
}

export interface Recorder {
  readonly layer: Layer.Layer<MessageHandler.MessageHandler>
  /** Messages whose `data` succeeded. */
  readonly deliveries: Effect.Effect<ReadonlyArray<Recorded>>
  /** Every hook call, in order: `mail <from>`, `rcpt <to>`, `data`, `reset`. */
  readonly events: Effect.Effect<ReadonlyArray<string>>
}

const names = (recipients: ReadonlyArray<Session.Recipient> | undefined) => (recipients ?? []).map((r) => r.address)

/** A handler that records what it is given, with a policy for refusals. */
export const recorder = (options: RecorderOptions = {}): Effect.Effect<Recorder> =>
  Effect.gen(function* () {
    const deliveries = yield* Ref.make<ReadonlyArray<Recorded>>([])
    const events = yield* Ref.make<ReadonlyArray<string>>([])
    const event = (text: string) => Ref.update(events, (all) => [...all, text])
    const read = (message: Message.Message): Effect.Effect<Uint8Array, Message.BodyError> => {
      const body = options.body ?? "read"
      if (body === "ignore") return Effect.succeed(new Uint8Array(0))
      if (body === "read") return Message.bytes(message)
      return message.body.pipe(
        Stream.tap(() => Effect.sleep(body.pause)),
        Stream.runCollect,
        Effect.map((chunks) => Framer.concat(chunks))
      )
    }
    const refuse = (error: SmtpError.SmtpError | undefined) => (error === undefined ? Effect.void : Effect.fail(error))
    const handler = MessageHandler.make({
      mail: (_session, from) => Effect.andThen(event(`mail ${from}`), refuse(options.mail?.(from))),
      rcpt: (_session, recipient) =>
        Effect.andThen(event(`rcpt ${recipient.address}`), refuse(options.rcpt?.(recipient.address))),
      data: (session: SessionInfo, message) =>
        Effect.gen(function* () {
          yield* event("data")
          const data = yield* read(message)
          if (options.fail !== undefined) return yield* Effect.fail(options.fail)
          const doneAt = yield* Clock.currentTimeMillis
          yield* Ref.update(deliveries, (all) => [
            ...all,
            {
              peer: session.peer.address,
              mailFrom: message.envelope.mailFrom,
              mailParameters: Message.mailOptions(message),
              rcptTos: Message.rcptTos(message),
              sessionRcptTos: names(session.envelope?.recipients),
              data,
              doneAt
            }
          ])
        }),
      reset: () => event("reset")
    })
    return {
      layer: Layer.succeed(MessageHandler.MessageHandler, handler),
      deliveries: Ref.get(deliveries),
      events: Ref.get(events)
    }
  })

// --- an upstream of our own --------------------------------------------------------------------

export interface Upstream extends Listening {
  readonly deliveries: Effect.Effect<ReadonlyArray<Recorded>>
}

/**
 * Our server as the upstream, named `upstream.test`: it refuses senders that start with
 * "refuse" (553 5.7.1 Sender refused upstream), recipients that start with "refuse"
 * (550 5.1.1 No such user upstream) and with "later" (450 4.2.1 Try later upstream), and
 * records the rest.
 */
export const withUpstream = (
  options: NodeSmtpServer.Options = {}
): Effect.Effect<Upstream, ConfigError | ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const record = yield* recorder({
      mail: (from) =>
        from.startsWith("refuse")
          ? new SmtpError.Custom({ code: 553, enhanced: "5.7.1", text: "Sender refused upstream" })
          : undefined,
      rcpt: upstreamRefusal
    })
    const server = yield* withHandler(record.layer, { hostname: "upstream.test", ...options })
    return { ...server, deliveries: record.deliveries }
  })

const upstreamRefusal = (address: string) =>
  address.startsWith("refuse")
    ? new SmtpError.MailboxNotFound({ text: "No such user upstream" })
    : address.startsWith("later")
      ? new SmtpError.MailboxUnavailable({ text: "Try later upstream", transient: true })
      : undefined

// --- smtplib ----------------------------------------------------------------------------------

// The script gets `message` (stdin's bytes), `connect()`, `r(reply)`, `report(value)` and
// `transaction(s, sender, recipients, body=None, mail_options=())`, which runs MAIL, each RCPT
// and DATA one by one and gives every reply: {"mail": [code, text], "rcpt": {address: [code,
// text]}, "data": [code, text] or None}. After a refused MAIL or when every RCPT was refused
// it sends RSET. The last line printed is the JSON result.
const prelude = `${smtplibPrelude}def transaction(s, sender, recipients, body=None, mail_options=()):
    s.ehlo_or_helo_if_needed()
    out = {"mail": r(s.mail(sender, list(mail_options))), "rcpt": {}, "data": None}
    if out["mail"][0] != 250:
        s.rset()
        return out
    for address in recipients:
        out["rcpt"][address] = r(s.rcpt(address))
    if not any(reply[0] in (250, 251) for reply in out["rcpt"].values()):
        s.rset()
        return out
    try:
        out["data"] = r(s.data(message if body is None else body))
    except smtplib.SMTPDataError as e:
        out["data"] = [e.smtp_code, e.smtp_error.decode("utf-8", "replace")]
    return out
`

/** Runs an smtplib script against `server` with `input` on stdin; its last line, parsed. */
export const smtplib = <A = unknown>(server: Listening, script: string, input?: Uint8Array | string) =>
  Effect.gen(function* () {
    const result = yield* runProcess(python3, ["-c", prelude + script.trim() + "\n"], {
      input,
      env: { SMTP_HOST: server.host, SMTP_PORT: String(server.port) }
    })
    if (result.exitCode !== 0) return yield* Effect.die(new Error(`python3 failed:\n${result.stderr}`))
    return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "null") as A
  })

export type Pair = readonly [number, string]

export interface Transaction {
  readonly mail: Pair
  readonly rcpt: Readonly<Record<string, Pair>>
  readonly data: Pair | null
}

/** A Python string literal (JSON's escapes are Python's). */
export const py = (value: string | ReadonlyArray<string>) => JSON.stringify(value)

/** One message in one session: every reply. */
export const sendOne = (
  server: Listening,
  from: string,
  recipients: ReadonlyArray<string>,
  message: Uint8Array | string,
  mailOptions: ReadonlyArray<string> = []
) =>
  smtplib<Transaction>(
    server,
    `s = connect()
report(transaction(s, ${py(from)}, ${py(recipients)}, mail_options=${py(mailOptions)}))
s.quit()`,
    message
  )

// --- refusals after a 250 ---------------------------------------------------------------------

export interface SeenRefusal {
  readonly peer: string
  readonly mailFrom: string
  /** Each reply as on the wire, without its CRLF. */
  readonly recipients: ReadonlyArray<{ readonly address: string; readonly reply: string }>
}

/** An `onRefused` that keeps what it is given, and what it was given so far. */
export const collectRefusals = Effect.gen(function* () {
  const ref = yield* Ref.make<ReadonlyArray<Refusals.Refusal>>([])
  const onRefused: Refusals.OnRefused = (refusal) => Ref.update(ref, (all) => [...all, refusal])
  const refusals = Effect.map(Ref.get(ref), (all) =>
    all.map((refusal): SeenRefusal => ({
      peer: refusal.session.peer.address,
      mailFrom: refusal.mailFrom,
      recipients: refusal.recipients.map(({ address, reply }) => ({
        address,
        reply: Reply.encode(reply, true).trimEnd()
      }))
    }))
  )
  return { onRefused, refusals }
})

// --- bytes ------------------------------------------------------------------------------------

export const bytes = (...parts: ReadonlyArray<string | Uint8Array>) =>
  new Uint8Array(Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "latin1") : part))))

/** The bytes as a string where each byte is one character: exact, and readable in a failed diff. */
export const text = (data: Uint8Array) => Buffer.from(data).toString("latin1")

// --- scripted fake upstreams ------------------------------------------------------------------

/** Greeting and EHLO of a well-behaved server offering PIPELINING and 8BITMIME. */
export const greet = (peer: FakePeer) =>
  Effect.gen(function* () {
    yield* peer.send("220 fake.test ESMTP\r\n")
    yield* peer.line // EHLO
    yield* peer.send("250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
  })

/**
 * A whole well-behaved session after the greeting: each MAIL, RCPT and RSET is answered 250,
 * DATA 354 and the body up to the dot 250; the bodies (as on the wire) go to `bodies`.
 * Ends with QUIT or when the client goes.
 */
export const behave = (peer: FakePeer, bodies: Array<string>): Effect.Effect<void, FakeClosed> =>
  Effect.gen(function* () {
    while (true) {
      const line = yield* peer.line
      const verb = line.slice(0, 4).toUpperCase()
      if (verb === "QUIT") return yield* Effect.andThen(peer.send("221 2.0.0 Bye\r\n"), peer.end)
      if (verb === "DATA") {
        yield* peer.send("354 go ahead\r\n")
        bodies.push(yield* peer.until("\r\n.\r\n"))
        yield* peer.send("250 2.0.0 queued\r\n")
      } else {
        yield* peer.send("250 2.0.0 ok\r\n")
      }
    }
  })

/** Waits for `effect` to give a value that satisfies `ok` (polling every 10 ms, at most `timeout`). */
export const eventually = <A>(
  effect: Effect.Effect<A>,
  ok: (a: A) => boolean,
  timeout: Duration.Input = "3 seconds"
): Effect.Effect<A> =>
  Effect.gen(function* () {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    while (true) {
      const value = yield* effect
      if (ok(value) || (yield* Clock.currentTimeMillis) > deadline) return value
      yield* Effect.sleep("10 millis")
    }
  })

// --- child processes --------------------------------------------------------------------------

export interface Child {
  readonly pid: number
  /** The first stdout line that satisfied `ready`. */
  readonly readyLine: string
}

/**
 * A child process killed (SIGKILL) when the scope closes. With `ready`, it has started once a
 * stdout line satisfies it; without, once it is spawned.
 */
export const spawnScoped = (
  command: string,
  args: ReadonlyArray<string>,
  ready?: (line: string) => boolean,
  options: { readonly env?: Readonly<Record<string, string>> } = {}
): Effect.Effect<Child, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ readonly process: ChildProcess.ChildProcess; readonly readyLine: string }, Error>((resume) => {
      const child = ChildProcess.spawn(command, [...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...options.env }
      })
      let out = ""
      let err = ""
      let done = false
      const finish = (
        effect: Effect.Effect<{ readonly process: ChildProcess.ChildProcess; readonly readyLine: string }, Error>
      ) => {
        if (done) return
        done = true
        clearTimeout(timer)
        resume(effect)
      }
      const fail = (message: string) => {
        child.kill("SIGKILL")
        finish(Effect.fail(new Error(`${command}: ${message}\nstdout: ${out}\nstderr: ${err}`)))
      }
      const timer = setTimeout(() => fail("not ready within 10 seconds"), 10_000)
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8")
        const line = out
          .split("\n")
          .slice(0, -1)
          .find((l) => ready?.(l) === true)
        if (line !== undefined) finish(Effect.succeed({ process: child, readyLine: line }))
      })
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")))
      if (ready === undefined) child.once("spawn", () => finish(Effect.succeed({ process: child, readyLine: "" })))
      child.on("error", (error) => fail(error.message))
      child.on("exit", (code, signal) => fail(`exited (${code ?? signal})`))
      return Effect.sync(() => {
        done = true
        clearTimeout(timer)
        child.kill("SIGKILL")
      })
    }),
    ({ process: child }) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      })
  ).pipe(Effect.map(({ process: child, readyLine }) => ({ pid: child.pid!, readyLine })))

/** A directory removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-relay-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const root = Path.resolve(import.meta.dirname, "../..")

/**
 * `source` (TypeScript that may import `effect` and `/abs/path/src/...ts`) bundled with esbuild
 * (vite's) into one ESM file for plain `node`: what runs is the library as a user's build would
 * run it, without a test runner's own 100+ MB.
 */
export const bundle = (source: string): Effect.Effect<string, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const entry = Path.join(dir, "entry.ts")
    const outfile = Path.join(dir, "entry.mjs")
    Fs.writeFileSync(entry, source)
    const result = yield* runProcess(
      Path.join(root, "node_modules/.bin/esbuild"),
      ["--bundle", "--platform=node", "--format=esm", "--log-level=warning", `--outfile=${outfile}`, entry],
      { env: { NODE_PATH: Path.join(root, "node_modules") }, timeout: "20 seconds" }
    ).pipe(Effect.mapError((error) => new Error(error.message)))
    if (result.exitCode !== 0)
      return yield* Effect.fail(new Error(`esbuild exited ${result.exitCode}: ${result.stderr}`))
    return outfile
  })

/** The `effect-smtpd` command built as `npm run build` ships it (scripts/bundle.mjs), in a temporary directory. */
export const buildCommand: Effect.Effect<string, Error, Scope.Scope> = Effect.gen(function* () {
  const outfile = Path.join(yield* tempDir, "effect-smtpd.js")
  const result = yield* runProcess(process.execPath, [Path.join(root, "scripts/bundle.mjs"), outfile], {
    timeout: "30 seconds"
  }).pipe(Effect.mapError((error) => new Error(error.message)))
  if (result.exitCode !== 0)
    return yield* Effect.fail(new Error(`scripts/bundle.mjs exited ${result.exitCode}: ${result.stderr}`))
  return outfile
})

/** A module of this repository's `src/`, as an absolute path for `bundle`'s sources. */
export const srcModule = (path: string) => Path.join(root, "src", path)

/** The peak resident set size of a running process, in KiB (Linux: VmHWM). */
export const peakRss = (pid: number) =>
  Effect.sync(() => {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1])
  })

// --- Received: --------------------------------------------------------------------------------

export interface Peeled {
  /** The Received: fields on top, each unfolded, with its id as `ID` and its date as `DATE`. */
  readonly received: ReadonlyArray<string>
  /** Each of those fields as written (folded). */
  readonly raw: ReadonlyArray<string>
  /** What follows them. */
  readonly rest: string
}

const date = /; [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/

/** The Received: fields on top of `message` and what follows them. */
export const peelReceived = (message: string): Peeled => {
  const received: Array<string> = []
  const raw: Array<string> = []
  let rest = message
  while (/^Received:/i.test(rest)) {
    let end = rest.indexOf("\r\n")
    while (end >= 0 && (rest[end + 2] === "\t" || rest[end + 2] === " ")) end = rest.indexOf("\r\n", end + 2)
    if (end < 0) break
    const field = rest.slice(0, end)
    raw.push(field)
    received.push(
      field
        .replaceAll(/\r\n[\t ]/g, " ")
        .replace(/ id [^ ;]+/, " id ID")
        .replace(date, "; DATE")
    )
    rest = rest.slice(end + 2)
  }
  return { received, raw, rest }
}

const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Our field as `peelReceived` gives it: from any HELO name, at `ip`, by `host`, for `rcpt` when one. */
export const ourReceived = (options: {
  readonly by: string
  readonly with?: string | undefined
  readonly for?: string | undefined
  readonly ip?: string | undefined
}) =>
  expect.stringMatching(
    new RegExp(
      `^Received: from \\S+ \\(${quote(`[${options.ip ?? "127.0.0.1"}]`)}\\) by ${quote(options.by)} with ` +
        `${options.with ?? "ESMTP"} id ID${options.for === undefined ? "" : quote(` for <${options.for}>`)}; DATE$`
    )
  )

// --- aiosmtpd as a plain upstream --------------------------------------------------------------

// aiosmtpd with its own replies, none with an enhanced code (as Postfix's "250 2.0.0 Ok: queued
// as X" would have): 250 OK: queued as <n>, 554 for senders that start with "reject", 550 for
// recipients that start with "refuse"; SIZE as given; each message written to a file in `dir`.
const plainAiosmtpd = String.raw`
import asyncio, os, sys
from aiosmtpd.smtp import SMTP

size, directory = int(sys.argv[1]), sys.argv[2]
count = 0

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        global count
        if envelope.mail_from.startswith("reject"):
            return "554 Transaction failed"
        count += 1
        with open(os.path.join(directory, str(count)), "wb") as f:
            f.write(envelope.original_content)
        return "250 OK: queued as Q%d" % count

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), hostname="aiosmtpd.test", data_size_limit=size), "127.0.0.1", 0
    )
    print("READY", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
`

export interface PlainUpstream extends Listening {
  /** The messages stored so far, in order (as aiosmtpd keeps them: dot-unstuffed). */
  readonly stored: Effect.Effect<ReadonlyArray<Uint8Array>>
}

/** Debian's aiosmtpd with replies that carry no enhanced status code, and SIZE `size` (0: none). */
export const plainUpstream = (size: number): Effect.Effect<PlainUpstream, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const child = yield* spawnScoped("/usr/bin/python3", ["-c", plainAiosmtpd, String(size), dir], (line) =>
      line.startsWith("READY ")
    )
    const stored = Effect.sync(() =>
      Fs.readdirSync(dir)
        .sort((a, b) => Number(a) - Number(b))
        .map((name) => new Uint8Array(Fs.readFileSync(Path.join(dir, name))))
    )
    return { host: "127.0.0.1", port: Number(child.readyLine.split(" ")[1]), stored }
  })
