// --workers: several processes share the listeners (node:cluster). Cluster workers re-run the
// primary's script with plain node, so this runs the built command, as users do.
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { python } from "../utils/process.js"
import { buildCommand } from "../utils/relay.js"

const children = (pid: number) =>
  python(`import subprocess;print(subprocess.run(["pgrep","-P","${pid}"],capture_output=True,text=True).stdout)`).pipe(
    Effect.map((result) => result.stdout.split("\n").filter((line) => line.trim() !== "").length)
  )

it.scopedLive(
  "--workers 2: two processes serve one port, and SIGTERM stops both gracefully",
  () =>
    Effect.gen(function* () {
      const entry = yield* buildCommand
      const child = spawn(process.execPath, [entry, "--format", "json", "--workers", "2", "127.0.0.1:0"], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d) => (stdout += d))
      child.stderr.on("data", (d) => (stderr += d))
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      // both workers say where they listen: the same port
      const ports = yield* Effect.promise(
        () =>
          new Promise<ReadonlyArray<string>>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`workers did not start: ${stderr}`)), 20_000)
            const check = () => {
              const found = [...stderr.matchAll(/listening on 127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!)
              if (found.length === 2) {
                clearTimeout(timer)
                resolve(found)
              }
            }
            child.stderr.on("data", check)
          })
      )
      expect(ports[0]).toBe(ports[1])
      expect(yield* children(child.pid!)).toBe(2)
      const sent = yield* python(
        `
import smtplib, sys
for i in range(10):
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
    s.sendmail("a@example.com", [f"b{i}@example.com"], b"Subject: %d\\r\\n\\r\\nhi\\r\\n" % i)
    s.quit()
print("ok")`,
        [ports[0]!]
      )
      expect(sent.stdout.trim()).toBe("ok")
      yield* Effect.sleep("300 millis")
      const lines = stdout.trim().split("\n")
      expect(lines).toHaveLength(10)
      expect(new Set(lines.map((line) => JSON.parse(line).rcpt_to[0])).size).toBe(10)
      child.kill("SIGTERM")
      expect(yield* Effect.promise(() => exited)).toBe(0)
      expect(yield* children(child.pid!)).toBe(0)
    }),
  60_000
)
