// The command as `npm run build` ships it (scripts/bundle.mjs): one file for plain node (and
// mailparser's file beside it, loaded by --class Inbox only), which turns on the prompt
// collection of socket read buffers (src/node/ReadBuffers.ts).
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import { isBuiltin } from "node:module"
import * as Path from "node:path"
import { python } from "../utils/process.js"
import { skipWithout } from "../utils/tools.js"
import { buildCommand, peakRss } from "../utils/relay.js"

// the command started on a free port, killed when the scope closes
const startCommand = (command: string, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const child = spawn(process.execPath, [command, ...args, "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] })
    yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
    const port = yield* Effect.callback<number, Error>((resume) => {
      let stderr = ""
      const timer = setTimeout(() => resume(Effect.fail(new Error(`did not start: ${stderr}`))), 20_000)
      child.stderr.on("data", (data) => {
        stderr += data
        const listening = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr)
        if (listening === null) return
        clearTimeout(timer)
        resume(Effect.succeed(Number(listening[1])))
      })
    })
    return { pid: child.pid!, port }
  })

const rss = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1])

// ws (the inbox's websocket) tries these native helpers in a try block and goes on without them
const optional = new Set(["bufferutil", "utf-8-validate"])

// what a bundled file asks for at run time: its imports, the modules it requires, its dynamic imports
const wants = (source: string) => ({
  imported: [...source.matchAll(/^import\b[^;]*?\bfrom\s*"([^"]+)"/gm)].map((match) => match[1]!),
  required: [...source.matchAll(/__require\("([^"]+)"\)/g)].map((match) => match[1]!),
  dynamic: [...source.matchAll(/\bimport\("([^"]+)"\)/g)].map((match) => match[1]!)
})

it.live(
  "is one file and mailparser's beside it: nothing else but Node's own modules is loaded at run time",
  () =>
    Effect.gen(function* () {
      const command = yield* buildCommand
      const main = wants(Fs.readFileSync(command, "utf8"))
      expect(main.imported.length).toBeGreaterThan(0)
      expect(
        [...main.imported, ...main.required].filter((specifier) => !isBuiltin(specifier) && !optional.has(specifier))
      ).toEqual([])
      // the one file loaded later: the MIME parser, on the first --class Inbox message
      expect(main.dynamic).toEqual(["./effect-smtpd-mailparser.js"])
      const parser = wants(Fs.readFileSync(Path.join(Path.dirname(command), "effect-smtpd-mailparser.js"), "utf8"))
      expect([...parser.imported, ...parser.required].filter((specifier) => !isBuiltin(specifier))).toEqual([])
      expect(parser.dynamic).toEqual([])
    }),
  60_000
)

it.live.skipIf(skipWithout("python3"))(
  "holds a few MiB of dead read buffers while a 64 MiB message streams through, not V8's 32",
  () =>
    Effect.gen(function* () {
      const server = yield* startCommand(yield* buildCommand, ["-n", "-c", "Sink", "--size", "0"])
      const before = rss(server.pid)
      const sent = yield* python(
        `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
body = (b"x" * 76 + b"\\r\\n") * (64 * 1024 * 1024 // 78)
print(s.sendmail("a@example.com", ["b@example.com"], b"Subject: large\\r\\n\\r\\n" + body))
s.quit()`,
        [String(server.port)],
        { timeout: "60 seconds" }
      )
      expect(sent.stdout.trim(), sent.stderr).toBe("{}")
      // peak minus the RSS before the message: ~17 MiB with a collection every 8 MiB read;
      // ~36 MiB when V8 collects them only at 32 MiB of pending buffers
      const growth = ((yield* peakRss(server.pid)) - before) / 1024
      expect(growth).toBeLessThan(26)
    }),
  90_000
)
