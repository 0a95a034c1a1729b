// Runs a real client program and collects what it printed (asynchronously: the server under
// test runs in this same process, so a blocking spawnSync would stall it).
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

export const python = (script: string) => run("python3", ["-c", script])

/** A temporary file with the given content; removed by the returned function. */
export const tempFile = (content: string | Uint8Array): { readonly path: string; readonly remove: () => void } => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-"))
  const path = Path.join(dir, "message.eml")
  Fs.writeFileSync(path, content)
  return { path, remove: () => Fs.rmSync(dir, { recursive: true, force: true }) }
}
