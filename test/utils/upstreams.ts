// Servers for the SMTP client to talk to, each scoped: started on a free loopback port, stopped
// (killed, closed, its files removed) when the scope closes.
//
// - `aiosmtpd`: Debian's aiosmtpd (run with /usr/bin/python3, not the python3 on PATH), with
//   STARTTLS, implicit TLS and AUTH as options; it prints one JSON line per event.
// - `smtpSink`: Postfix's smtp-sink, which dumps what it receives to a file.
// - `certificate`: a self-signed certificate for localhost and 127.0.0.1.
// - `fakeUpstream`: a raw TCP server whose every connection runs a script: the misbehaving
//   servers (silent, cut off, malformed, injecting) that no real server plays on demand.
import { Data, Duration, Effect, FiberSet, Schedule } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { runProcess } from "./process.js"
import * as Tools from "./tools.js"

/** An upstream could not be started. */
export class UpstreamStartError extends Data.TaggedError("UpstreamStartError")<{ readonly message: string }> {}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-upstream-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** A port nobody listens on now (bound to port 0 and released): a later listener may take it, rarely. */
export const freePort: Effect.Effect<number> = Effect.callback((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

// --- certificate -----------------------------------------------------------------------------

export interface Certificate {
  readonly certPath: string
  readonly keyPath: string
  /** The certificate in PEM: the CA to trust, since it signs itself. */
  readonly pem: string
}

/**
 * A self-signed certificate for CN=localhost, valid for DNS:localhost and IP:127.0.0.1. The key
 * is EC P-256 rather than RSA: generated in milliseconds where an RSA key takes up to a second.
 */
export const certificate = (): Effect.Effect<Certificate, UpstreamStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const certPath = Path.join(dir, "cert.pem")
    const keyPath = Path.join(dir, "key.pem")
    const result = yield* runProcess("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      keyPath,
      "-out",
      certPath
    ]).pipe(Effect.mapError((error) => new UpstreamStartError({ message: error.message })))
    if (result.exitCode !== 0) {
      return yield* new UpstreamStartError({ message: `openssl req exited ${result.exitCode}: ${result.stderr}` })
    }
    return { certPath, keyPath, pem: Fs.readFileSync(certPath, "utf8") }
  })

// --- child processes -------------------------------------------------------------------------

interface Child {
  readonly process: ChildProcess.ChildProcess
  /** Complete stdout lines so far. */
  readonly lines: Array<string>
  readonly stderr: () => string
}

// A child killed when the scope closes. With `ready`, it has started once a stdout line
// satisfies it; without, once it is spawned.
const spawnChild = (
  command: string,
  args: ReadonlyArray<string>,
  ready: ((line: string) => boolean) | undefined,
  hint: string,
  timeout: Duration.Input = "10 seconds"
): Effect.Effect<Child & { readonly readyLine: string }, UpstreamStartError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Child & { readonly readyLine: string }, UpstreamStartError>((resume) => {
      const child = ChildProcess.spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"] })
      const lines: Array<string> = []
      let partial = ""
      let err = ""
      let done = false
      const stderr = () => err
      const finish = (effect: Effect.Effect<Child & { readonly readyLine: string }, UpstreamStartError>) => {
        if (done) return
        done = true
        clearTimeout(timer)
        resume(effect)
      }
      const fail = (message: string) => {
        child.kill("SIGKILL")
        finish(Effect.fail(new UpstreamStartError({ message: `${command}: ${message} (${hint})\nstderr: ${err}` })))
      }
      const timer = setTimeout(() => fail("not ready in time"), Duration.toMillis(Duration.fromInputUnsafe(timeout)))
      child.stdout.on("data", (chunk: Buffer) => {
        const parts = (partial + chunk.toString("utf8")).split("\n")
        partial = parts.pop()!
        for (const line of parts) {
          lines.push(line)
          if (!done && ready?.(line) === true)
            finish(Effect.succeed({ process: child, lines, stderr, readyLine: line }))
        }
      })
      child.stderr.on("data", (chunk: Buffer) => {
        err += chunk.toString("utf8")
      })
      if (ready === undefined) {
        child.once("spawn", () => finish(Effect.succeed({ process: child, lines, stderr, readyLine: "" })))
      }
      child.on("error", (error) => fail(`could not start: ${error.message}`))
      child.on("exit", (code, signal) => fail(`exited (${code ?? signal}) before it was ready`))
      return Effect.sync(() => {
        done = true
        clearTimeout(timer)
        child.kill("SIGKILL")
      })
    }),
    (child) =>
      Effect.callback<void>((resume) => {
        if (child.process.exitCode !== null || child.process.signalCode !== null) return resume(Effect.void)
        child.process.once("exit", () => resume(Effect.void))
        child.process.kill("SIGKILL")
      })
  )

// polls `attempt` every 10 ms until it gives a value, for at most `timeout`
const eventually = <A>(
  what: () => string,
  attempt: () => A | undefined,
  timeout: Duration.Input = "3 seconds"
): Effect.Effect<A> =>
  Effect.suspend(() => {
    const value = attempt()
    return value === undefined ? Effect.fail(undefined) : Effect.succeed(value)
  }).pipe(
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(undefined) }),
    Effect.catch(() => Effect.die(new Error(what())))
  )

// --- aiosmtpd --------------------------------------------------------------------------------

const aiosmtpdScript = String.raw`
import asyncio, base64, json, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

options = json.loads(sys.argv[1])

def emit(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()

def tls(server):
    return server.transport is not None and server.transport.get_extra_info("ssl_object") is not None

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        emit({
            "type": "delivery",
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "helo": session.host_name,
            "tls": tls(server),
            "authenticated": bool(session.authenticated),
            "content": base64.b64encode(envelope.original_content).decode("ascii"),
        })
        return "250 2.0.0 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == options["auth"]["user"]
        and auth_data.password.decode() == options["auth"]["password"]
    )
    emit({"type": "auth", "mechanism": mechanism, "tls": tls(server), "success": good})
    # handled=False: aiosmtpd sends the 535 itself
    return AuthResult(success=good, handled=False)

def context():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(options["cert"], options["key"])
    return context

async def main():
    loop = asyncio.get_running_loop()
    kwargs = {"hostname": "aiosmtpd.test", "enable_SMTPUTF8": options["smtpUtf8"]}
    if options["startTls"]:
        kwargs["tls_context"] = context()
        kwargs["require_starttls"] = options["requireStartTls"]
    if options["auth"] is not None:
        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = options["auth"]["requireTls"]
        kwargs["auth_exclude_mechanism"] = options["auth"]["exclude"]
    server = await loop.create_server(
        lambda: SMTP(Handler(), **kwargs), "127.0.0.1", 0, ssl=context() if options["implicitTls"] else None
    )
    print("READY", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
`

export interface AiosmtpdOptions {
  /** The certificate for STARTTLS and implicit TLS. */
  readonly certificate?: Certificate | undefined
  /** Offer STARTTLS (needs `certificate`). */
  readonly startTls?: boolean | undefined
  /** Refuse every command but EHLO, NOOP, QUIT and STARTTLS before TLS. */
  readonly requireStartTls?: boolean | undefined
  /** TLS from the first byte (needs `certificate`). */
  readonly implicitTls?: boolean | undefined
  /**
   * AUTH with these credentials, required before MAIL; offered only over TLS unless
   * `requireTls: false`; `exclude` takes mechanisms off the list (`["PLAIN"]` leaves LOGIN).
   */
  readonly auth?:
    | {
        readonly user: string
        readonly password: string
        readonly requireTls?: boolean | undefined
        readonly exclude?: ReadonlyArray<string> | undefined
      }
    | undefined
  readonly smtpUtf8?: boolean | undefined
}

export interface AiosmtpdDelivery {
  readonly mail_from: string
  readonly rcpt_tos: ReadonlyArray<string>
  readonly mail_options: ReadonlyArray<string>
  readonly helo: string
  /** The session was over TLS (STARTTLS or implicit). */
  readonly tls: boolean
  readonly authenticated: boolean
  /** The message as stored: dot-stuffing removed, otherwise the bytes on the wire. */
  readonly content: Uint8Array
}

export interface AiosmtpdAuth {
  readonly mechanism: string
  readonly tls: boolean
  readonly success: boolean
}

export interface Aiosmtpd {
  readonly host: string
  readonly port: number
  /** Waits (up to 3 s) until at least `count` messages were stored, then returns them all. */
  readonly deliveries: (count: number) => Effect.Effect<ReadonlyArray<AiosmtpdDelivery>>
  /** Waits (up to 3 s) until the server saw at least `count` AUTH attempts, then returns them all. */
  readonly auths: (count: number) => Effect.Effect<ReadonlyArray<AiosmtpdAuth>>
}

/**
 * aiosmtpd on 127.0.0.1 and a free port. It refuses recipients that start with "refuse" with
 * `550 5.1.1 No such user` and stores the others' messages, which `deliveries` reads back. It
 * offers 8BITMIME always, never PIPELINING.
 */
export const aiosmtpd = (options: AiosmtpdOptions = {}): Effect.Effect<Aiosmtpd, UpstreamStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const config = {
      cert: options.certificate?.certPath ?? null,
      key: options.certificate?.keyPath ?? null,
      startTls: options.startTls ?? false,
      requireStartTls: options.requireStartTls ?? false,
      implicitTls: options.implicitTls ?? false,
      smtpUtf8: options.smtpUtf8 ?? false,
      auth:
        options.auth === undefined
          ? null
          : {
              user: options.auth.user,
              password: options.auth.password,
              requireTls: options.auth.requireTls ?? true,
              exclude: options.auth.exclude ?? []
            }
    }
    if ((config.startTls || config.implicitTls) && config.cert === null) {
      return yield* new UpstreamStartError({ message: "aiosmtpd: TLS needs a certificate" })
    }
    const child = yield* spawnChild(
      "/usr/bin/python3",
      ["-c", aiosmtpdScript, JSON.stringify(config)],
      (line) => line.startsWith("READY "),
      `needs Debian's aiosmtpd: ${Tools.installHint("aiosmtpd")}`
    )
    const records = (type: string) =>
      child.lines
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { readonly type: string } & Record<string, unknown>)
        .filter((record) => record.type === type)
    return {
      host: "127.0.0.1",
      port: Number(child.readyLine.split(" ")[1]),
      deliveries: (count) =>
        eventually(
          () => `aiosmtpd stored fewer than ${count} messages\nstderr: ${child.stderr()}`,
          () => {
            const found = records("delivery").map((record): AiosmtpdDelivery => ({
              ...(record as unknown as Omit<AiosmtpdDelivery, "content">),
              content: new Uint8Array(Buffer.from(record["content"] as string, "base64"))
            }))
            return found.length >= count ? found : undefined
          }
        ),
      auths: (count) =>
        eventually(
          () => `aiosmtpd saw fewer than ${count} AUTH attempts\nstderr: ${child.stderr()}`,
          () => {
            const found = records("auth").map(({ mechanism, success, tls }): AiosmtpdAuth => ({
              mechanism: mechanism as string,
              tls: tls as boolean,
              success: success as boolean
            }))
            return found.length >= count ? found : undefined
          }
        )
    }
  })

// --- smtp-sink -------------------------------------------------------------------------------

export interface SmtpSink {
  readonly host: string
  readonly port: number
  /**
   * Waits (up to 3 s) until the dump file holds `count` messages, then returns it: per message
   * smtp-sink's own headers (`X-Mail-Args`, one `X-Rcpt-Args` per RCPT, a three-line `Received`),
   * the content as received, and an empty line; every line ends in LF.
   */
  readonly dump: (count: number) => Effect.Effect<string>
}

/** Waits (up to 3 s) until something accepts connections on 127.0.0.1:`port`. */
export const waitListening = (port: number): Effect.Effect<void, Error> =>
  Effect.callback<void, string>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", () => resume(Effect.fail("not yet")))
  }).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 }),
    Effect.mapError(() => new Error(`nothing listens on port ${port}`))
  )

/**
 * Postfix's smtp-sink on 127.0.0.1 and a free port, dumping every transaction to one file.
 * `args` are more smtp-sink flags (`-p` no PIPELINING, `-r RCPT` refuse RCPT with 450, …).
 * As root it runs as `nobody` (it refuses to run as root otherwise).
 */
export const smtpSink = (args: ReadonlyArray<string> = []): Effect.Effect<SmtpSink, UpstreamStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    Fs.chmodSync(dir, 0o777) // the dump is written after smtp-sink drops to nobody
    const dumpPath = Path.join(dir, "dump")
    const port = yield* freePort
    const user = process.getuid?.() === 0 ? ["-u", "nobody"] : []
    const child = yield* spawnChild(
      "/usr/sbin/smtp-sink",
      [...user, "-h", "sink.test", "-D", dumpPath, ...args, `127.0.0.1:${port}`, "16"],
      undefined,
      `smtp-sink comes with Postfix: ${Tools.installHint("postfix")}`
    )
    // smtp-sink says nothing when it listens: wait until it takes a connection
    yield* waitListening(port).pipe(
      Effect.mapError(
        () => new UpstreamStartError({ message: `smtp-sink did not listen on port ${port}\nstderr: ${child.stderr()}` })
      )
    )
    const read = () => (Fs.existsSync(dumpPath) ? Fs.readFileSync(dumpPath, "latin1") : "")
    return {
      host: "127.0.0.1",
      port,
      dump: (count) =>
        eventually(
          () => `smtp-sink dumped fewer than ${count} messages\nstderr: ${child.stderr()}`,
          () => {
            const text = read()
            return (text.match(/^X-Mail-Args:/gm) ?? []).length >= count ? text : undefined
          }
        )
    }
  })

// --- fake upstreams --------------------------------------------------------------------------

/** The client closed the connection while the script waited for more. */
export class FakeClosed extends Data.TaggedError("FakeClosed")<{}> {}

/** One connection to a fake upstream, as its script sees it. */
export interface FakePeer {
  /** Writes to the client (each character one byte). */
  readonly send: (text: string) => Effect.Effect<void>
  /** The next line from the client, without its CRLF. */
  readonly line: Effect.Effect<string, FakeClosed>
  /** The next `count` bytes (each character one byte). */
  readonly bytes: (count: number) => Effect.Effect<string, FakeClosed>
  /** Everything up to and including `marker`. */
  readonly until: (marker: string) => Effect.Effect<string, FakeClosed>
  /** What has come from the client and was not read yet. */
  readonly unread: Effect.Effect<string>
  /** A FIN to the client. */
  readonly end: Effect.Effect<void>
  /** Closes the connection at once (an RST). */
  readonly destroy: Effect.Effect<void>
}

export interface FakeUpstream {
  readonly host: string
  readonly port: number
  /** Everything each connection received from the client so far, in the order they came. */
  readonly received: Effect.Effect<ReadonlyArray<string>>
}

/**
 * A TCP server on 127.0.0.1:0 that runs `script` for each connection. When the script is done,
 * the connection answers QUIT with 221 and closes, and ignores anything else; a script that
 * fails with `FakeClosed` (the client left) just ends. Scripts still running when the scope
 * closes are interrupted and their connections destroyed.
 */
export const fakeUpstream = (
  script: (peer: FakePeer) => Effect.Effect<void, FakeClosed>
): Effect.Effect<FakeUpstream, never, Scope.Scope> =>
  Effect.gen(function* () {
    const transcripts: Array<{ text: string }> = []
    const sockets = new Set<Net.Socket>()
    const run = yield* FiberSet.makeRuntime<never, void, never>()
    const server = yield* Effect.acquireRelease(
      Effect.callback<Net.Server>((resume) => {
        const server = Net.createServer((socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          const peer = makePeer(socket, transcripts)
          run(
            script(peer.peer).pipe(
              Effect.andThen(peer.afterScript),
              Effect.catchTag("FakeClosed", () => Effect.void)
            )
          )
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
      host: "127.0.0.1",
      port: (server.address() as Net.AddressInfo).port,
      received: Effect.sync(() => transcripts.map((t) => t.text))
    }
  })

const makePeer = (socket: Net.Socket, transcripts: Array<{ text: string }>) => {
  const transcript = { text: "" }
  transcripts.push(transcript)
  let cursor = 0
  let ended = false
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const waiter of [...waiters]) waiter()
  }
  socket.on("data", (chunk: Buffer) => {
    transcript.text += chunk.toString("latin1")
    wake()
  })
  socket.on("end", () => {
    ended = true
    wake()
  })
  socket.on("close", () => {
    ended = true
    wake()
  })
  socket.on("error", () => {})

  // resumes with what `attempt` takes from the unread input once it can, or fails when the client has gone
  const take = (attempt: () => string | undefined) =>
    Effect.callback<string, FakeClosed>((resume) => {
      const check = () => {
        const value = attempt()
        if (value === undefined && !ended) return false
        waiters.delete(check)
        resume(value === undefined ? Effect.fail(new FakeClosed()) : Effect.succeed(value))
        return true
      }
      if (check()) return
      waiters.add(check)
      return Effect.sync(() => waiters.delete(check))
    })
  const upTo = (end: number) => {
    const value = transcript.text.slice(cursor, end)
    cursor = end
    return value
  }
  const until = (marker: string) =>
    take(() => {
      const at = transcript.text.indexOf(marker, cursor)
      return at === -1 ? undefined : upTo(at + marker.length)
    })
  const line = Effect.map(until("\r\n"), (text) => text.slice(0, -2))

  const peer: FakePeer = {
    send: (text) =>
      Effect.callback<void>((resume) => {
        if (socket.destroyed) return resume(Effect.void)
        socket.write(text, "latin1", () => resume(Effect.void))
      }),
    line,
    bytes: (count) => take(() => (transcript.text.length - cursor >= count ? upTo(cursor + count) : undefined)),
    until,
    unread: Effect.sync(() => transcript.text.slice(cursor)),
    end: Effect.sync(() => socket.end()),
    destroy: Effect.sync(() => socket.destroy())
  }
  const afterScript: Effect.Effect<void, FakeClosed> = Effect.flatMap(line, (command) =>
    command.toUpperCase() === "QUIT" ? Effect.andThen(peer.send("221 2.0.0 Bye\r\n"), peer.end) : afterScript
  )
  return { peer, afterScript }
}
