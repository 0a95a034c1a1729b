/**
 * The run's clock and log, the tools it finds on the PATH, and the processes it starts: each in
 * its own process group, all stopped on exit or on a signal (SIGTERM to the group, then SIGKILL).
 */
import { spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { HOST } from "./Options.ts"
import * as Proc from "./Proc.ts"

/** Progress goes to stderr; stdout gets only the tables at the end. */
export const log = (...a: ReadonlyArray<unknown>): void => console.error(...a)
export const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000))
/** Seconds, monotonic. */
export const now = (): number => performance.now() / 1000

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const which = (name: string): string | null => {
  for (const d of [...(process.env.PATH || "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"]) {
    if (!d) continue
    const p = path.join(d, name)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {}
  }
  return null
}

/** A command's trimmed stdout, or null if it failed. */
export const run = (argv: ReadonlyArray<string>, timeoutMs = 20000): string | null => {
  try {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: timeoutMs })
    return r.status === 0 ? r.stdout.trim() : null
  } catch {
    return null
  }
}

/** Process groups started here, killed on exit. */
export const groups = new Set<number>()
/** Removed on exit, unless a server failed (its log is kept). */
export const tempDirs = new Set<string>()

export const killGroup = (pgid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, sig)
  } catch {}
}

export const cleanupAll = (): void => {
  for (const g of groups) killGroup(g, "SIGKILL")
  groups.clear()
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true })
  tempDirs.clear()
}

/** Nothing started here outlives the run, however it ends. */
export const installCleanup = (): void => {
  process.on("exit", cleanupAll)
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      log(`\nscaling: ${sig}, stopping everything started here`)
      cleanupAll()
      process.exit(130)
    })
  }
}

/** Stops a child started with `detached: true` and every process of its group. */
export const stopChild = async (child: ChildProcess | null, graceS = 5): Promise<void> => {
  if (!child || child.pid == null) return
  const pgid = child.pid
  if (child.exitCode == null && child.signalCode == null) {
    killGroup(pgid, "SIGTERM")
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(graceS)])
  }
  if (Proc.groupPids(pgid).length) killGroup(pgid, "SIGKILL")
  const t = now()
  while (Proc.groupPids(pgid).length && now() - t < 5) await sleep(0.05)
  groups.delete(pgid)
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once("error", reject)
    s.listen(0, HOST, () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => resolve(p))
    })
  })
