// Runs a real client program and collects what it printed (asynchronously: the server under
// test runs in this same process, so a blocking spawnSync would stall it).
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const run = (command: string, args: ReadonlyArray<string>, input?: string | Uint8Array): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(new Error(`${command} could not run (is it installed? .ci/run installs it): ${error.message}`))
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(input ?? "")
  })

export const python = (script: string, ...args: ReadonlyArray<string>) => run("python3", ["-c", script, ...args])

/** Runs a Python script; its stdout, or a failure with its stderr when it exits non-zero. */
export const pythonOk = (script: string, ...args: ReadonlyArray<string>): Effect.Effect<string, Error> =>
  Effect.flatMap(
    Effect.promise(() => python(script, ...args)),
    (result) =>
      result.code === 0
        ? Effect.succeed(result.stdout)
        : Effect.fail(new Error(`python3 exited ${result.code}: ${result.stderr}`))
  )

/** A temporary file with the given content; removed by the returned function. */
export const tempFile = (content: string | Uint8Array): { readonly path: string; readonly remove: () => void } => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-"))
  const path = Path.join(dir, "message.eml")
  Fs.writeFileSync(path, content)
  return { path, remove: () => Fs.rmSync(dir, { recursive: true, force: true }) }
}
