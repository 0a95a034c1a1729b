/**
 * The throughput load: Postfix's smtp-source with its -c counter, read as ../shared/bench reads
 * it: messages completed, and when the last one completed.
 */
import { spawn } from "node:child_process"
import type { Env } from "./Env.ts"
import { round } from "./Format.ts"
import { HOST } from "./Options.ts"
import { groups, killGroup, now } from "./System.ts"

export interface Options {
  readonly port: number
  readonly sessions: number
  readonly messages: number
  readonly size: number
  /** `-d`: many messages per session. */
  readonly persistent: boolean
  /** The run is stopped after this many seconds (and then not an error). */
  readonly capS: number
}

export interface Run {
  messages: number
  seconds: number
  rate: number
  capped: boolean
  steady_rate?: number
  error?: string
}

const argv = (o: Options): Array<string> => [
  ...(o.persistent ? ["-d"] : []),
  ...["-c", "-s", String(o.sessions), "-m", String(o.messages), "-l", String(o.size)],
  ...["-M", "bench.local", `${HOST}:${o.port}`]
]

/** The -c counter's progress: the last count and when it was printed, seconds after the start. */
class Counter {
  count = 0
  tLast = 0
  readonly samples: Array<readonly [number, number]> = []
  private pending = ""

  feed(chunk: Buffer, t: number): void {
    this.pending += chunk.toString("latin1")
    const parts = this.pending.split(/[\r\n]/)
    this.pending = parts.pop()!
    for (let i = parts.length - 1; i >= 0; i--) {
      const tok = parts[i]!.trim()
      if (/^\d+$/.test(tok)) {
        this.count = Number(tok)
        this.tLast = t
        this.samples.push([t, this.count])
        break
      }
    }
  }
}

const result = (o: Options, counter: Counter, capped: boolean, code: number | null, stderr: string): Run => {
  const { count, tLast, samples } = counter
  const elapsed = Math.max(tLast, 1e-9)
  const res: Run = { messages: count, seconds: round(elapsed, 4), rate: count ? round(count / elapsed) : 0, capped }
  // steady state: the same, without the first 20 % of the run (connection set-up)
  const ramp = Math.min(0.5, 0.2 * o.capS)
  const first = samples.find(([t]) => t >= ramp)
  if (first && tLast - first[0] > 0.2 * o.capS) res.steady_rate = round((count - first[1]) / (tLast - first[0]))
  if (!capped && (code !== 0 || count < o.messages)) {
    const lines = stderr.trim().split("\n").filter(Boolean)
    res.error = (lines.at(-1) || `exit ${code}, ${count}/${o.messages} messages`).slice(0, 200)
  }
  return res
}

/** One smtp-source run against `o.port`; it never rejects, a failure is in `error`. */
export const run = (env: Env, o: Options): Promise<Run> =>
  new Promise((resolve) => {
    const t0 = now()
    const p = spawn(env.smtpSource ?? "smtp-source", argv(o), { detached: true, stdio: ["ignore", "pipe", "pipe"] })
    groups.add(p.pid!)
    const counter = new Counter()
    let err = ""
    let capped = false
    p.on("error", (e) => (err += String(e)))
    p.stdout.on("data", (chunk: Buffer) => counter.feed(chunk, now() - t0))
    p.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-2000)))
    const timer = setTimeout(() => {
      capped = true
      killGroup(p.pid!, "SIGTERM")
      setTimeout(() => killGroup(p.pid!, "SIGKILL"), 5000).unref()
    }, o.capS * 1000)
    p.on("close", (code) => {
      clearTimeout(timer)
      groups.delete(p.pid!)
      resolve(result(o, counter, capped, code, err))
    })
  })
