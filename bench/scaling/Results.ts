/**
 * results.json: its shape, reading it, and merging a new measurement into it. A section keeps the
 * servers not measured this time, each with the date of its own run.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Env } from "./Env.ts"
import { round } from "./Format.ts"
import { NPM_PREFIX, PY, ROOT, type Mode, type ServerName } from "./Options.ts"
import type { Run } from "./SmtpSource.ts"
import { run } from "./System.ts"

/** A point of a curve; a point with an `error` is missing. */
export interface Point {
  x: number
  error?: string
}

export interface ThroughputPoint extends Point {
  rate: number | null
  steady_rate: number | null
  runs: Array<Run | { error: string }>
}

export interface MemoryPoint extends Point {
  /** The count asked for, when the file descriptor limit gave fewer. */
  requested?: number
  note?: string
  held?: number
  open_seconds?: number
  rss_before_kb?: number | null
  rss_kb?: number | null
  rss_mib?: number | null
  kb_per_conn?: number | null
  open_errors?: Record<string, number>
}

export interface SizePoint extends Point {
  seconds?: number | null
  mib_per_s?: number | null
  first_seconds?: number | null
  messages?: number
  all_seconds?: Array<number>
  peak_rss_mib?: number | null
  rss_mib?: number | null
}

export interface ServerResult<P extends Point> {
  command: string
  points: Array<P>
  date?: string | undefined
}

/** What a section's run returns: its parameters, in words, and a curve per server. */
export interface Measured<P extends Point> {
  params: Record<string, unknown>
  servers: Partial<Record<ServerName, ServerResult<P>>>
}

export interface Meta {
  date: string
  mode: Mode
  [key: string]: unknown
}

export interface Section<P extends Point> extends Measured<P> {
  meta?: Meta
}

export interface Results {
  throughput?: Section<ThroughputPoint>
  memory?: Section<MemoryPoint>
  size?: Section<SizePoint>
}

/** Empty if there is no file yet; an unreadable file is an error only to `--render-only`. */
export const read = (file: string, renderOnly: boolean, die: (msg: string) => never): Results => {
  if (!fs.existsSync(file)) {
    if (renderOnly) die(`${file} not found: run without --render-only first`)
    return {}
  }
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Results
  } catch (e) {
    if (renderOnly) die(`cannot read ${file}: ${(e as Error).message}`)
    return {}
  }
}

export const write = (file: string, results: Results): void =>
  fs.writeFileSync(file, JSON.stringify(results, null, 1) + "\n")

/** The new servers' curves over the previous section's, which keep their own date. */
export const merge = <P extends Point>(prev: Section<P> | undefined, r: Measured<P>, meta: Meta): Section<P> => {
  const servers = { ...(prev?.servers || {}) }
  for (const v of Object.values(servers)) if (!v.date) v.date = prev?.meta?.date
  for (const [k, v] of Object.entries(r.servers)) servers[k as ServerName] = { ...v, date: meta.date }
  return { meta, params: r.params, servers }
}

const readJson = (file: string): Record<string, unknown> => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>
  } catch {
    return {}
  }
}

/** The versions and the machine, recorded with every section. */
export const meta = (env: Env, mode: Mode): Meta => {
  const pkg = readJson(path.join(ROOT, "package.json"))
  const ss = readJson(path.join(NPM_PREFIX, "node_modules/smtp-server/package.json")).version ?? null
  const dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
  const head = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) ?? ""
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    mode,
    ours: `${pkg.name}@${pkg.version} ${head}${dirty ? " (uncommitted changes)" : ""}`.trim(),
    node: process.version,
    "smtp-server": ss,
    aiosmtpd: run([PY, "-c", "import aiosmtpd; print(aiosmtpd.__version__)"]),
    postfix: run(["dpkg-query", "-W", "-f", "${Version}", "postfix"]),
    kernel: os.release(),
    cpus: env.cpus.length,
    cpu_model: os.cpus()[0]?.model,
    cpu_placement:
      env.serverCpu != null && env.loadCpus != null
        ? `server on CPU ${env.serverCpu}, load on CPU ${env.loadCpus.join(",")} (taskset)`
        : "not pinned",
    nofile: env.nofile,
    loadavg_at_start: os.loadavg().map((v) => round(v, 2))
  }
}
