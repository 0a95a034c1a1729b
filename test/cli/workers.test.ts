// --workers: several processes share the listeners (node:cluster). Cluster workers re-run the
// primary's script with plain node, so this runs the built command, as users do.
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { python } from "../utils/process.js"
import { skipWithout } from "../utils/tools.js"
import { buildCommand } from "../utils/relay.js"

const childPids = (pid: number) =>
  python(`import subprocess;print(subprocess.run(["pgrep","-P","${pid}"],capture_output=True,text=True).stdout)`).pipe(
    Effect.map((result) => result.stdout.split("\n").filter((line) => line.trim() !== ""))
  )

// Prometheus's own check of the text format (Debian's prometheus package), when it is here
const expectValidExposition = (text: string) => {
  if (skipWithout("promtool")) return
  const checked = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
  expect(`${checked.stdout}${checked.stderr}`.trim()).toBe("")
  expect(checked.status).toBe(0)
}

const children = (pid: number) =>
  python(`import subprocess;print(subprocess.run(["pgrep","-P","${pid}"],capture_output=True,text=True).stdout)`).pipe(
    Effect.map((result) => result.stdout.split("\n").filter((line) => line.trim() !== "").length)
  )

it.live.skipIf(skipWithout("python3"))(
  "--workers 2: two processes serve one port, the primary serves their metrics summed, and SIGTERM stops both gracefully",
  () =>
    Effect.gen(function* () {
      const entry = yield* buildCommand
      const child = spawn(
        process.execPath,
        [entry, "--format", "json", "--workers", "2", "--metrics", "127.0.0.1:0", "127.0.0.1:0"],
        {
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
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
      // the primary serves the workers' metrics, summed
      const at = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stderr)
      expect(at, stderr).not.toBeNull()
      const metrics = yield* Effect.promise(() => fetch(at![1]!).then((response) => response.text()))
      expect(metrics).toMatch(/^smtp_messages_accepted_total 10$/m)
      expect(metrics).toMatch(/^smtp_connections_total 10$/m)
      // registered in the workers from the start, so present before first use
      expect(metrics).toMatch(/^smtp_messages_rejected_total 0$/m)
      expect(metrics).toContain('smtp_message_size_bytes_bucket{le="+Inf"} 10')
      expectValidExposition(metrics)
      // a worker killed: it is replaced, and the sums do not go back (its counts stay in them)
      const [victim] = yield* childPids(child.pid!)
      process.kill(Number(victim), "SIGKILL")
      yield* Effect.promise(
        () =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no replacement worker: ${stderr}`)), 20_000)
            const check = () => {
              if ([...stderr.matchAll(/listening on 127\.0\.0\.1:(\d+)/g)].length === 3) {
                clearTimeout(timer)
                resolve()
              }
            }
            child.stderr.on("data", check)
            check()
          })
      )
      const after = yield* Effect.promise(() => fetch(at![1]!).then((response) => response.text()))
      expect(after).toMatch(/^smtp_messages_accepted_total 10$/m)
      expect(after).toMatch(/^smtp_connections_total 10$/m)
      expect(after).toContain('smtp_message_size_bytes_bucket{le="+Inf"} 10')
      expect(after).not.toContain('le="null"')
      expectValidExposition(after)
      child.kill("SIGTERM")
      expect(yield* Effect.promise(() => exited)).toBe(0)
      expect(yield* children(child.pid!)).toBe(0)
    }),
  60_000
)

it.live.skipIf(skipWithout("python3"))(
  "--workers 2 --auth-rate-limit: the failures seen by both workers count together",
  () =>
    Effect.gen(function* () {
      const entry = yield* buildCommand
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-auth-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const users = Path.join(dir, "users")
      Fs.writeFileSync(users, "alice:secret\n")
      const flags = ["--auth-users", users, "--auth-insecure", "--trusted-networks", "", "--auth-rate-limit", "10/60"]
      const child = spawn(process.execPath, [entry, "-c", "Sink", "--workers", "2", ...flags, "127.0.0.1:0"], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      let stderr = ""
      child.stderr.on("data", (d) => (stderr += d))
      const port = yield* Effect.promise(
        () =>
          new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`workers did not start: ${stderr}`)), 20_000)
            child.stderr.on("data", () => {
              const found = [...stderr.matchAll(/listening on 127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!)
              if (found.length === 2) {
                clearTimeout(timer)
                resolve(found[0]!)
              }
            })
          })
      )
      // one AUTH PLAIN per connection: twenty wrong passwords, then the right one
      const result = yield* python(
        `
import smtplib, sys
codes = []
for password in ["wrong"] * 20 + ["secret"]:
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
    s.ehlo()
    s.user, s.password = "alice", password
    try:
        codes.append(s.auth("PLAIN", s.auth_plain)[0])
    except smtplib.SMTPAuthenticationError as e:
        codes.append(e.smtp_code)
    s.quit()
print(" ".join(map(str, codes)))`,
        [port]
      )
      const codes = result.stdout.trim().split(" ").map(Number)
      expect(codes.slice(0, 10)).toEqual(Array(10).fill(535))
      expect(codes.slice(10)).toEqual(Array(11).fill(454))
    }),
  60_000
)
