// A server in a child process of its own (bundled with esbuild, run by plain node, as in
// test/handlers/Relay.test.ts), and what it holds in memory: its resident set size now and at
// its peak, from /proc (Linux). Measured there, not in the test worker, whose own 100+ MB of
// the test runner and test state would drown the figures.
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Fs from "node:fs"
import { bundle, spawnScoped, srcModule } from "./relay.js"

/** Resident set size in KiB: now (VmRSS) and the highest so far (VmHWM). */
export interface Memory {
  readonly rss: number
  readonly peak: number
}

/** The memory of a running process (Linux /proc/<pid>/status). */
export const memory = (pid: number): Effect.Effect<Memory> =>
  Effect.sync(() => {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1])
    return { rss: field("VmRSS"), peak: field("VmHWM") }
  })

/** KiB as MiB with one decimal, for reports. */
export const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`

/**
 * Python that reads a process's VmRSS and VmHWM (KiB), for scripts that measure while they
 * hold connections open: `memory(pid)` returns `{"rss": …, "peak": …}`.
 */
export const pythonMemory = `
def memory(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    return {"rss": int(fields["VmRSS"]), "peak": int(fields["VmHWM"])}
`

// The server: NodeSmtpServer on 127.0.0.1:0 with the options in argv[2] (JSON) and a handler
// that reads every body to its end and keeps nothing. With --expose-gc it collects garbage
// often, so that RSS follows what is live rather than when V8 last felt like collecting.
const entry = `
import { Context, Effect, Layer, Stream } from "effect"
import * as MessageHandler from ${JSON.stringify(srcModule("handler/MessageHandler.ts"))}
import * as NodeSmtpServer from ${JSON.stringify(srcModule("node/NodeSmtpServer.ts"))}
import { SmtpServer } from ${JSON.stringify(srcModule("server/SmtpServer.ts"))}

const options = JSON.parse(process.argv[2] ?? "{}")
const handler = MessageHandler.layer({ data: (_session, message) => Stream.runDrain(message.body) })
const gc = globalThis.gc
if (typeof gc === "function") setInterval(() => gc(), 200).unref()

Effect.gen(function* () {
  const context = yield* Layer.build(
    NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "attack.test", shutdownGrace: "1 second", ...options }).pipe(
      Layer.provide(handler)
    )
  )
  console.log("PORT " + Context.get(context, SmtpServer).addresses[0].port)
  yield* Effect.never
}).pipe(Effect.scoped, Effect.runFork)
`

/** A server process, killed when the scope closes. */
export interface ServerProcess {
  readonly pid: number
  readonly port: number
}

/**
 * Starts the server in its own node process with these options (JSON-able `NodeSmtpServer`
 * options: sizes, limits, durations as strings) and waits until it listens.
 */
export const serverProcess = (
  options: Record<string, unknown> = {}
): Effect.Effect<ServerProcess, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const script = yield* bundle(entry)
    const child = yield* spawnScoped("node", ["--expose-gc", script, JSON.stringify(options)], (line) =>
      line.startsWith("PORT ")
    )
    return { pid: child.pid, port: Number(child.readyLine.slice(5)) }
  })
