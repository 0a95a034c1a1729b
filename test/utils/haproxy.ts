// HAProxy in front of a server under test: a real load balancer speaking the PROXY protocol.
//
// `haproxy({ target, version })` starts Debian's haproxy in the foreground (`-db`) with a
// generated config: one `mode tcp` frontend listening on 127.0.0.1 and on [::1] (a free port
// each), forwarding every connection to `target` with `send-proxy` (v1) or `send-proxy-v2` (v2).
// HAProxy connects to the target from 127.0.0.1 whatever the client's address, so the header is
// the only way the target can learn who the client is. Killed when the scope closes.
import { Data, Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tools from "./tools.js"

/** HAProxy could not be started. */
export class HaproxyStartError extends Data.TaggedError("HaproxyStartError")<{ readonly message: string }> {}

const installHint = `the PROXY protocol interop tests need HAProxy: ${Tools.installHint("haproxy")}`

export interface Frontend {
  readonly host: string
  readonly port: number
}

export interface Haproxy {
  /** The frontend on 127.0.0.1: clients connecting here are proxied over IPv4 (TCP4 / AF_INET). */
  readonly v4: Frontend
  /** The frontend on ::1: clients connecting here are proxied over IPv6 (TCP6 / AF_INET6). */
  readonly v6: Frontend
  /** The generated configuration, for failure messages. */
  readonly config: string
  /** What HAProxy printed on stderr so far. */
  readonly stderr: () => string
}

export interface HaproxyOptions {
  /** Where every connection goes: the server under test, reached over IPv4. */
  readonly target: { readonly host: string; readonly port: number }
  /** The PROXY protocol version HAProxy sends first on each connection to the target. */
  readonly version: 1 | 2
}

// Debian installs it in /usr/sbin, which is not on a normal user's PATH
const command = Tools.which("haproxy") ?? "haproxy"

// a port nobody listens on now on `host` (bound to port 0 and released): a later listener may
// take it, rarely
const freePort = (host: string): Effect.Effect<number, HaproxyStartError> =>
  Effect.callback((resume) => {
    const server = Net.createServer()
    server.once("error", (error) =>
      resume(Effect.fail(new HaproxyStartError({ message: `no free port on ${host}: ${error.message}` })))
    )
    server.listen(0, host, () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resume(Effect.succeed(port)))
    })
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-haproxy-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const configFor = (options: HaproxyOptions, v4: number, v6: number) =>
  [
    "global",
    // one thread and few connections: a test needs little, and HAProxy sizes its tables by them
    "  nbthread 1",
    "  maxconn 256",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    "frontend smtp",
    `  bind 127.0.0.1:${v4}`,
    `  bind [::1]:${v6}`,
    "  default_backend server",
    "backend server",
    `  server target ${options.target.host.includes(":") ? `[${options.target.host}]` : options.target.host}:${options.target.port} ${options.version === 1 ? "send-proxy" : "send-proxy-v2"}`,
    ""
  ].join("\n")

// Is something listening on this TCP port, IPv4 or IPv6? Read from the kernel's socket tables, so
// the check opens no connection (a probe would reach the target as one more proxied session).
// Undefined where there are no such tables (not Linux).
const listening = (port: number, family: 4 | 6): boolean | undefined => {
  const file = family === 4 ? "/proc/net/tcp" : "/proc/net/tcp6"
  if (!Fs.existsSync(file)) return undefined
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0")
  return Fs.readFileSync(file, "utf8")
    .split("\n")
    .some((line) => {
      const fields = line.trim().split(/\s+/)
      // sl local_address rem_address st …; 0A is LISTEN
      return fields[1]?.endsWith(`:${hexPort}`) === true && fields[3] === "0A"
    })
}

// where the kernel's tables are missing: a connection that HAProxy accepts
const accepts = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.callback((resume) => {
    const socket = Net.connect({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

/**
 * HAProxy forwarding to `target` with a PROXY header of the given version, on 127.0.0.1 and
 * [::1], started in the current scope and killed when it closes.
 */
export const haproxy = (options: HaproxyOptions): Effect.Effect<Haproxy, HaproxyStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const v4 = yield* freePort("127.0.0.1")
    const v6 = yield* freePort("::1")
    const config = configFor(options, v4, v6)
    const configPath = Path.join(dir, "haproxy.cfg")
    Fs.writeFileSync(configPath, config)

    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.callback<ChildProcess.ChildProcess, HaproxyStartError>((resume) => {
        const child = ChildProcess.spawn(command, ["-f", configPath, "-db"], { stdio: ["ignore", "pipe", "pipe"] })
        child.stdout.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8")
        })
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8")
        })
        child.once("spawn", () => resume(Effect.succeed(child)))
        child.once("error", (error: NodeJS.ErrnoException) =>
          resume(
            Effect.fail(
              new HaproxyStartError({
                message:
                  error.code === "ENOENT"
                    ? `haproxy is not installed (spawn ENOENT); ${installHint}`
                    : `haproxy could not run: ${error.message}`
              })
            )
          )
        )
      }),
      (child) =>
        Effect.callback<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill("SIGKILL")
        })
    )

    const exited = () =>
      child.exitCode !== null || child.signalCode !== null
        ? new HaproxyStartError({
            message: `haproxy exited (${child.exitCode ?? child.signalCode}) before it listened\nstderr: ${stderr}\nconfig:\n${config}`
          })
        : undefined
    const ready = Effect.gen(function* () {
      const early = exited()
      if (early !== undefined) return yield* Effect.fail(early)
      const v4Listening = listening(v4, 4) ?? (yield* accepts("127.0.0.1", v4))
      const v6Listening = listening(v6, 6) ?? (yield* accepts("::1", v6))
      if (!v4Listening || !v6Listening) return yield* Effect.fail(undefined)
    })
    yield* ready.pipe(
      Effect.retry({ schedule: Schedule.spaced("10 millis"), while: (error) => error === undefined }),
      Effect.timeoutOrElse({
        duration: Duration.seconds(10),
        orElse: () => Effect.fail(undefined)
      }),
      Effect.catch((error) =>
        Effect.fail(
          error ??
            new HaproxyStartError({
              message: `haproxy did not listen on 127.0.0.1:${v4} and [::1]:${v6} in time\nstderr: ${stderr}\nconfig:\n${config}`
            })
        )
      )
    )

    return {
      v4: { host: "127.0.0.1", port: v4 },
      v6: { host: "::1", port: v6 },
      config,
      stderr: () => stderr
    }
  })
