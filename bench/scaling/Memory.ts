/**
 * Section 2, memory: the server's RSS while it holds N idle connections (greeting read, EHLO
 * sent), each N against a freshly started server: the total, and (RSS held − RSS before) / N.
 */
import { openIdle, type Client } from "./Client.ts"
import type { Env } from "./Env.ts"
import { fmtCount, round } from "./Format.ts"
import type { Profile, ServerName } from "./Options.ts"
import type { Measured, MemoryPoint } from "./Results.ts"
import { rotated, Server } from "./Server.ts"
import { errorMessage, log, now, sleep } from "./System.ts"

interface Held {
  readonly errors: Record<string, number>
  readonly openS: number
  readonly alive: () => number
  readonly close: () => Promise<void>
}

const perAddress = 5000 // < the 28k ephemeral ports of one source address

const errorKey = (e: unknown): string => {
  const code = (e as { code?: unknown } | null)?.code
  return (typeof code === "string" && code ? code : errorMessage(e) || String(e)).slice(0, 80)
}

/** Opens `count` idle connections, `P.inFlight` at a time, from 127.0.0.2, 127.0.0.3, … */
const holdIdle = async (port: number, count: number, P: Profile["mem"]): Promise<Held> => {
  const conns: Array<Client> = []
  const errors: Record<string, number> = {}
  const deadline = now() + P.openBudgetS
  let next = 0
  let alive = 0
  const t0 = now()
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      if (now() > deadline) {
        errors["open budget exceeded"] = (errors["open budget exceeded"] || 0) + 1
        continue
      }
      const local = `127.0.0.${2 + Math.floor(i / perAddress)}`
      try {
        const c = await openIdle(port, local, 10)
        conns.push(c)
        if (c.closed) continue
        alive++
        c.sock.once("close", () => alive--)
      } catch (e) {
        const k = errorKey(e)
        errors[k] = (errors[k] || 0) + 1
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(P.inFlight, count) }, worker))
  const openS = now() - t0
  await sleep(P.settleS)
  return {
    errors,
    openS,
    alive: () => alive,
    close: async () => {
      for (const c of conns) c.abort()
      await sleep(0.3)
    }
  }
}

/** Fills `pt` from a fresh server holding `n` connections; a failure is the point's error. */
const measure = async (env: Env, name: ServerName, pt: MemoryPoint, P: Profile["mem"]): Promise<void> => {
  const n = pt.x
  const srv = new Server(env, name)
  let held: Held | null = null
  try {
    await srv.start()
    await srv.warm(200)
    await sleep(1)
    const before = srv.status()
    held = await holdIdle(srv.port, n, P)
    const after = srv.status()
    const alive = held.alive()
    Object.assign(pt, {
      held: alive,
      open_seconds: round(held.openS, 2),
      rss_before_kb: before.VmRSS ?? null,
      rss_kb: after.VmRSS ?? null,
      rss_mib: after.VmRSS != null ? round(after.VmRSS / 1024) : null,
      kb_per_conn: alive && after.VmRSS != null ? round((after.VmRSS - (before.VmRSS ?? NaN)) / alive, 2) : null,
      open_errors: held.errors
    })
    if (!srv.alive()) pt.error = "server died"
    else if (alive < 0.99 * n) pt.error = `held only ${alive} of ${n}`
  } catch (e) {
    pt.error = errorMessage(e).split("\n")[0]!
  } finally {
    await held?.close()
    await srv.stop()
  }
}

const logPoint = (name: ServerName, pt: MemoryPoint): void =>
  log(
    `  ${name.padEnd(12)} ${String(pt.x).padStart(6)} idle: ` +
      (pt.rss_kb != null
        ? `held ${pt.held} in ${pt.open_seconds}s, RSS ${pt.rss_mib} MiB (before ${round((pt.rss_before_kb ?? 0) / 1024)}), ${pt.kb_per_conn} KB/conn`
        : "") +
      (Object.keys(pt.open_errors || {}).length ? `  open errors ${JSON.stringify(pt.open_errors)}` : "") +
      (pt.error ? `  ERROR ${pt.error}` : "")
  )

const params = (P: Profile["mem"]): Record<string, unknown> => ({
  order: "for each N, each server in turn (order rotated), a fresh server process every time",
  state: "connections that read the greeting and sent EHLO, then sit idle",
  fresh_server_per_point: true,
  warm_up: "200 messages over 8 persistent sessions + 50 one-message sessions, then 1 s",
  rss: "VmRSS of the process holding the listening socket, 1 s after the last connection opened",
  kb_per_conn: "(RSS held - RSS before) / connections held",
  max_in_flight: P.inFlight,
  open_budget_seconds: P.openBudgetS,
  source_addresses: "127.0.0.2, 127.0.0.3, ... (5,000 connections each)",
  missing: "a point is missing when the server held fewer than 99 % of the connections, or died"
})

export const run = async (
  env: Env,
  prof: Profile,
  names: ReadonlyArray<ServerName>
): Promise<Measured<MemoryPoint>> => {
  const P = prof.mem
  // the server process needs one descriptor per connection plus its own few: when the
  // hard RLIMIT_NOFILE cannot be raised (no CAP_SYS_RESOURCE), the largest point is
  // measured just under it, and recorded with its real count
  const limit = env.nofile - 200
  const counts = [...new Set(P.conns.map((n) => Math.min(n, limit)))]
  const asked = P.conns.filter((c) => c > limit)
  log(`-- memory`)
  const points = new Map(names.map((n) => [n, [] as Array<MemoryPoint>]))
  let k = 0
  for (const n of counts) {
    for (const name of rotated(names, k++)) {
      const pt: MemoryPoint = { x: n }
      if (n === limit && asked.length) {
        pt.requested = Math.max(...asked)
        pt.note = `${fmtCount(pt.requested)} asked; file descriptor limit ${fmtCount(env.nofile)} (hard), so ${fmtCount(n)}`
      }
      await measure(env, name, pt, P)
      points.get(name)!.push(pt)
      logPoint(name, pt)
    }
  }
  const out: Measured<MemoryPoint>["servers"] = {}
  for (const name of names) out[name] = { command: env.describe(name), points: points.get(name)! }
  return { params: params(P), servers: out }
}
