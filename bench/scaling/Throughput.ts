/**
 * Section 1, throughput: messages per second with 4 KiB messages over N persistent sessions, a
 * fixed run time per point, the median of the rounds.
 */
import type { Env } from "./Env.ts"
import { median, round } from "./Format.ts"
import { MSG_SIZE, type Profile, type ServerName } from "./Options.ts"
import type { Measured, ThroughputPoint } from "./Results.ts"
import { ensureRunning, rotated, Server } from "./Server.ts"
import * as SmtpSource from "./SmtpSource.ts"
import { log, sleep } from "./System.ts"

type Runs = Map<ServerName, Map<number, ThroughputPoint["runs"]>>

const logRun = (srv: Server, n: number, r: SmtpSource.Run): void =>
  log(
    `  ${srv.name.padEnd(12)} ${String(n).padStart(5)} sessions ${String(Math.round(r.rate)).padStart(7)} msg/s` +
      ` (${r.messages} in ${r.seconds.toFixed(2)}s, steady ${r.steady_rate ?? "-"})${r.error ? "  ERROR " + r.error : ""}`
  )

/** Every round, every N, every server in turn; a server that stops is restarted for the next run. */
const load = async (env: Env, P: Profile["tp"], servers: ReadonlyArray<Server>, runs: Runs): Promise<void> => {
  const failed = new Map<ServerName, string>()
  for (const srv of servers) {
    const err = await ensureRunning(srv, P.warm)
    if (err) {
      failed.set(srv.name, err)
      log(`  ERROR ${err}`)
    }
  }
  let k = 0
  for (let round_ = 0; round_ < P.rounds; round_++) {
    const order = round_ % 2 ? [...P.sessions].reverse() : P.sessions
    for (const n of order) {
      for (const srv of rotated(servers, k++)) {
        const own = runs.get(srv.name)!.get(n)!
        const failure = failed.get(srv.name)
        if (failure) {
          own.push({ error: failure })
          continue
        }
        const err = await ensureRunning(srv, 200)
        if (err) {
          own.push({ error: `server not running (${err})` })
          continue
        }
        const run = { port: srv.port, sessions: n, messages: P.maxMessages, size: MSG_SIZE, persistent: true }
        const r = await SmtpSource.run(env, { ...run, capS: P.runS })
        if (!srv.alive()) r.error = "server died"
        own.push(r)
        logRun(srv, n, r)
        await sleep(P.pauseS)
      }
    }
  }
}

const point = (x: number, rs: ThroughputPoint["runs"]): ThroughputPoint => {
  const ok = rs.filter((r): r is SmtpSource.Run => !r.error && "messages" in r && r.messages > 0)
  const pt: ThroughputPoint = {
    x,
    rate: round(median(ok.map((r) => r.rate))),
    steady_rate: round(median(ok.map((r) => r.steady_rate))),
    runs: rs
  }
  if (!ok.length) pt.error = rs.find((r) => r.error)?.error ?? "no messages"
  return pt
}

const params = (P: Profile["tp"]): Record<string, unknown> => ({
  message_bytes: MSG_SIZE,
  load: "smtp-source -d -c -s N -m M -l 4096 (persistent sessions)",
  run_seconds: P.runS,
  max_messages_per_run: P.maxMessages,
  rounds: P.rounds,
  warm_up: `${P.warm} messages over 8 persistent sessions + ${Math.max(50, Math.floor(P.warm / 10))} one-message sessions`,
  rate: "messages completed / time of the last completion (smtp-source -c counter), median of the rounds; steady_rate: the same without the first 20 % (at most 0.5 s) of the run",
  order:
    "all servers started and warmed, then loaded one at a time: for each N, each server in turn (order rotated); odd rounds take the N in reverse order"
})

export const run = async (
  env: Env,
  prof: Profile,
  names: ReadonlyArray<ServerName>
): Promise<Measured<ThroughputPoint>> => {
  const P = prof.tp
  log(`-- throughput`)
  const servers = names.map((n) => new Server(env, n))
  const runs: Runs = new Map(names.map((n) => [n, new Map(P.sessions.map((s) => [s, []]))]))
  try {
    await load(env, P, servers, runs)
  } finally {
    for (const srv of servers) await srv.stop()
  }
  const out: Measured<ThroughputPoint>["servers"] = {}
  for (const name of names) {
    const points = P.sessions.map((n) => point(n, runs.get(name)!.get(n)!))
    out[name] = { command: env.describe(name), points }
  }
  return { params: params(P), servers: out }
}
