// The built command run as a separate process, for the CLI tests: several runs at once, a server
// started until its "listening" line, and a raw conversation over TCP or a Unix socket.
import { spawn } from "node:child_process"
import * as Net from "node:net"

export interface Running {
  readonly port: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly stop: (signal: NodeJS.Signals) => Promise<number | null>
}

/** Runs `main` (test/utils/command.ts's built command) with Node. */
export const runner = (main: string) => {
  const node = process.execPath
  // several runs at once: each spends most of its time starting up
  const runAll = (runs: ReadonlyArray<ReadonlyArray<string>>) =>
    Promise.all(
      runs.map(
        (args) =>
          new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
            const child = spawn(node, [main, ...args], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 })
            let stdout = ""
            let stderr = ""
            child.stdout.on("data", (d) => (stdout += d))
            child.stderr.on("data", (d) => (stderr += d))
            child.on("close", (status) => resolve({ status, stdout, stderr }))
          })
      )
    )

  // `listening`: the line that says the server is up (its group 1, if any, is the port)
  // `env`: variables added to this process's own
  const start = (
    args: ReadonlyArray<string>,
    listening = /listening on 127\.0\.0\.1:(\d+)/,
    env: Readonly<Record<string, string>> = {}
  ): Promise<Running> =>
    new Promise((resolve, reject) => {
      const child = spawn(node, [main, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } })
      let stdout = ""
      let stderr = ""
      const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
      const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr}`)), 30_000)
      child.stdout.on("data", (d) => (stdout += d))
      child.stderr.on("data", (d) => {
        stderr += d
        const match = listening.exec(stderr)
        if (match) {
          clearTimeout(timer)
          resolve({
            port: Number(match[1] ?? 0),
            stdout: () => stdout,
            stderr: () => stderr,
            stop: (signal) => (child.kill(signal), exited)
          })
        }
      })
      child.on("error", reject)
    })
  return { runAll, start }
}

/** Sends `lines` one at a time over a connection (a Unix socket's path, or a port), each after
 * the reply before it, and gives every reply, whole, until the server closes. */
export const converse = (to: { readonly path: string } | { readonly port: number }, lines: ReadonlyArray<string>) =>
  new Promise<ReadonlyArray<string>>((resolve, reject) => {
    const socket = Net.connect("path" in to ? { path: to.path } : { host: "127.0.0.1", port: to.port })
    const replies: Array<string> = []
    let buffer = ""
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no reply; so far: ${JSON.stringify(replies)}`)))
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1")
      let match: RegExpExecArray | null
      while ((match = /^(?:\d{3}-[^\n]*\n)*\d{3} [^\n]*\n/.exec(buffer)) !== null) {
        buffer = buffer.slice(match[0].length)
        replies.push(match[0])
        const next = lines[replies.length - 1]
        if (next !== undefined) socket.write(next)
      }
    })
    socket.on("close", () => resolve(replies))
    socket.on("error", reject)
  })
