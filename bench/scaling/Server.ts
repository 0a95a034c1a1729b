/**
 * A server under test: started on a free port (pinned to the server CPU), waited for until it
 * greets, found in /proc (the process holding the listening socket), warmed and stopped.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { waitGreeting } from "./Client.ts"
import type { Env } from "./Env.ts"
import { MSG_SIZE, NPM_PREFIX, ROOT, type ServerName } from "./Options.ts"
import * as Proc from "./Proc.ts"
import * as SmtpSource from "./SmtpSource.ts"
import { errorMessage, freePort, groups, log, now, stopChild, tempDirs } from "./System.ts"

export class Server {
  readonly env: Env
  readonly name: ServerName
  child: ChildProcess | null = null
  pid: number | null = null
  port = 0

  constructor(env: Env, name: ServerName) {
    this.env = env
    this.name = name
  }

  private spawn(logPath: string): ChildProcess {
    const argv = this.env.command(this.name, this.port)
    const { serverCpu, taskset } = this.env
    const full = serverCpu != null && taskset ? [taskset, "-c", String(serverCpu), ...argv] : argv
    const fd = fs.openSync(logPath, "a")
    const child = spawn(full[0]!, full.slice(1), {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, SMTP_BENCH_NPM_PREFIX: NPM_PREFIX, PYTHONDONTWRITEBYTECODE: "1" }
    })
    fs.closeSync(fd)
    groups.add(child.pid!)
    child.on("error", () => {})
    return child
  }

  async start(): Promise<void> {
    this.port = await freePort()
    const logPath = path.join(this.env.logdir, `${this.name}-${this.port}.log`)
    const child = (this.child = this.spawn(logPath))
    const t0 = now()
    try {
      await waitGreeting(this.port, child, 60)
      this.pid = Proc.listenerPid(this.port, child.pid!)
      if (!this.pid) throw new Error("no started process holds the listening socket")
    } catch (e) {
      this.env.keepLogs = true
      tempDirs.delete(this.env.logdir)
      await this.stop()
      throw new Error(`${this.name} did not start: ${errorMessage(e)} (log ${logPath})`)
    }
    log(`  started ${this.name.padEnd(12)} port ${this.port} pid ${this.pid} (${(now() - t0).toFixed(1)}s)`)
  }

  alive(): boolean {
    return this.child != null && this.child.exitCode == null && this.child.signalCode == null
  }

  status(): Proc.Status {
    return Proc.status(this.pid)
  }

  async stop(): Promise<void> {
    if (this.child) await stopChild(this.child)
    this.child = null
    this.pid = null
  }

  /** `n` messages over 8 persistent sessions, then n / 10 (at least 50) one-message sessions. */
  async warm(n: number): Promise<void> {
    const load = { port: this.port, sessions: 8, size: MSG_SIZE, capS: 30 }
    const a = await SmtpSource.run(this.env, { ...load, messages: n, persistent: true })
    const b = await SmtpSource.run(this.env, { ...load, messages: Math.max(50, Math.floor(n / 10)), persistent: false })
    for (const r of [a, b]) if (r.error) throw new Error(`${this.name} failed the warm-up: ${r.error}`)
  }
}

/** Starts (or restarts) a server that is not running; the error's first line if that fails. */
export const ensureRunning = async (srv: Server, warm: number): Promise<string | null> => {
  if (srv.alive()) return null
  if (srv.child) log(`  ${srv.name} is not running; restarting`)
  try {
    await srv.stop()
    await srv.start()
    await srv.warm(warm)
    return null
  } catch (e) {
    await srv.stop()
    return errorMessage(e).split("\n")[0]!
  }
}

// the servers are all started (idle ones cost nothing) and loaded one at a time, the
// order rotated from point to point, as ../shared/bench does: drift on a shared machine
// then hits every server alike instead of the one that happened to run last
export const rotated = <A>(xs: ReadonlyArray<A>, k: number): Array<A> =>
  xs.slice(k % xs.length).concat(xs.slice(0, k % xs.length))
