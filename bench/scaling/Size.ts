/**
 * Section 3, message size: the time from the first body byte to the 250 reply for one message of
 * each size, the body streamed with backpressure, and the server's peak RSS after that size.
 */
import { sendOne, type Timing } from "./Client.ts"
import type { Env } from "./Env.ts"
import { fmtBytes, fmtSeconds, median, round } from "./Format.ts"
import { MiB, type Profile, type ServerName } from "./Options.ts"
import type { Measured, SizePoint } from "./Results.ts"
import { ensureRunning, rotated, Server } from "./Server.ts"
import { errorMessage, log, now } from "./System.ts"

/** One cold message, then the repetitions, within the size's time budget. */
const measure = async (srv: Server, pt: SizePoint, P: Profile["size"]): Promise<void> => {
  const size = pt.x
  const reps = P.reps[size] ?? 3
  const times: Array<Timing> = []
  const deadline = now() + P.budgetS
  for (let i = 0; i <= reps && now() < deadline; i++) {
    try {
      times.push(await sendOne(srv.port, size, P.messageTimeoutS))
    } catch (e) {
      pt.error = errorMessage(e).slice(0, 200)
      break
    }
  }
  const st = srv.status()
  const warmTimes = times.slice(1).map((t) => t.data_s)
  const s = median(warmTimes.length ? warmTimes : times.map((t) => t.data_s))
  Object.assign(pt, {
    seconds: s != null ? round(s, 6) : null,
    mib_per_s: s ? round(size / MiB / s, 1) : null,
    first_seconds: times.length ? round(times[0]!.data_s, 6) : null,
    messages: times.length,
    all_seconds: times.map((t) => round(t.data_s, 6)),
    peak_rss_mib: st.VmHWM != null ? round(st.VmHWM / 1024) : null,
    rss_mib: st.VmRSS != null ? round(st.VmRSS / 1024) : null
  })
  if (!srv.alive()) pt.error = pt.error || "server died"
  if (pt.error) pt.seconds = pt.mib_per_s = null
}

const logPoint = (srv: Server, pt: SizePoint): void =>
  log(
    `  ${srv.name.padEnd(12)} ${fmtBytes(pt.x).padStart(8)}: ` +
      (pt.seconds != null
        ? `${fmtSeconds(pt.seconds)} (${pt.mib_per_s} MiB/s, first ${fmtSeconds(pt.first_seconds)}, ${pt.messages} msgs)`
        : "") +
      ` peak RSS ${pt.peak_rss_mib} MiB${pt.error ? "  ERROR " + pt.error : ""}`
  )

const params = (P: Profile["size"]): Record<string, unknown> => ({
  client: "bench/scaling (Node): the body streamed from a generator of 78-character lines, with backpressure",
  seconds:
    "time from the first body byte written to the 250 reply; median over the messages after the first (cold) one",
  messages_per_size: Object.fromEntries(P.sizes.map((s) => [s, 1 + (P.reps[s] ?? 3)])),
  peak_rss: "VmHWM of the server after that size (sizes go up, so it is the peak for the largest message so far)",
  order:
    "all servers started and warmed (200 messages); for each size, each server in turn (order rotated); one process per server for all sizes (restarted only if it dies)",
  budget_seconds_per_size: P.budgetS
})

export const run = async (env: Env, prof: Profile, names: ReadonlyArray<ServerName>): Promise<Measured<SizePoint>> => {
  const P = prof.size
  log(`-- size`)
  const servers = names.map((n) => new Server(env, n))
  const points = new Map(names.map((n) => [n, [] as Array<SizePoint>]))
  try {
    let k = 0
    for (const srv of servers) {
      const err = await ensureRunning(srv, 200)
      if (err) log(`  ERROR ${err}`)
    }
    for (const size of P.sizes) {
      for (const srv of rotated(servers, k++)) {
        const pt: SizePoint = { x: size }
        points.get(srv.name)!.push(pt)
        const err = await ensureRunning(srv, 200)
        if (err) {
          pt.error = `server not running (${err})`
          continue
        }
        await measure(srv, pt, P)
        logPoint(srv, pt)
      }
    }
  } finally {
    for (const srv of servers) await srv.stop()
  }
  const out: Measured<SizePoint>["servers"] = {}
  for (const name of names) out[name] = { command: env.describe(name), points: points.get(name)! }
  return { params: params(P), servers: out }
}
