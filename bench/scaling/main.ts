/**
 * Scaling curves for effect-smtpd and its peers, as pictures (docs/performance/README.md).
 *
 *   npm run bench:scaling                                # build, then the full run (about 9 minutes)
 *   node bench/scaling/main.ts --quick                   # fewer points, shorter runs
 *   node bench/scaling/main.ts --servers ours,smtp-server --only throughput,size
 *   node bench/scaling/main.ts --render-only             # redraw the SVGs from results.json
 *
 * One server at a time on 127.0.0.1, the server pinned to the last CPU and the load to the
 * others: throughput (Throughput.ts), memory held by idle connections (Memory.ts), time against
 * message size (Size.ts). Writes DIR/results.json, throughput.svg, memory.svg and size.svg, and
 * the tables of DIR/README.md (DIR = docs/performance). The peers come from ../shared/bench (not
 * modified); every process started here is stopped, and a point a server fails is recorded as
 * missing.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Env } from "./Env.ts"
import * as Figures from "./Figures.ts"
import { round } from "./Format.ts"
import * as Memory from "./Memory.ts"
import * as Options from "./Options.ts"
import * as Results from "./Results.ts"
import * as Size from "./Size.ts"
import { cleanupAll, installCleanup, log, now } from "./System.ts"
import * as Tables from "./Tables.ts"
import * as Throughput from "./Throughput.ts"

const available = (env: Env, servers: ReadonlyArray<Options.ServerName>) => {
  const names: Array<Options.ServerName> = []
  const skipped: Record<string, string> = {}
  for (const n of servers) {
    const why = env.unavailable(n)
    if (why) {
      skipped[n] = why
      log(`scaling: skipping ${n}: ${why}`)
    } else names.push(n)
  }
  if (!names.length) Options.die("no server available")
  return { names, skipped }
}

interface Context {
  readonly meta: Results.Meta
  readonly names: ReadonlyArray<Options.ServerName>
  readonly skipped: Record<string, string>
  readonly results: Results.Results
}

/** Runs one section and merges it into `results`, keeping the servers not run this time. */
const section = async (sec: Options.Section, env: Env, mode: Options.Mode, ctx: Context): Promise<void> => {
  const { meta, names, results, skipped } = ctx
  const prof = Options.profiles[mode]
  const ts = now()
  const sectionMeta = () => ({
    ...meta,
    duration_s: round(now() - ts),
    loadavg_at_end: os.loadavg().map((v) => round(v, 2)),
    skipped
  })
  switch (sec) {
    case "throughput": {
      const r = await Throughput.run(env, prof, names)
      results.throughput = Results.merge(results.throughput, r, sectionMeta())
      break
    }
    case "memory": {
      const r = await Memory.run(env, prof, names)
      results.memory = Results.merge(results.memory, r, sectionMeta())
      break
    }
    case "size": {
      const r = await Size.run(env, prof, names)
      results.size = Results.merge(results.size, r, sectionMeta())
      break
    }
  }
}

/** Every section asked for; results.json and the SVGs are rewritten after each one. */
const measure = async (opts: Options.Options, results: Results.Results, resultsFile: string): Promise<void> => {
  const env = new Env()
  if (!env.smtpSource)
    Options.die("smtp-source not found (Debian package postfix; ../shared/bench/run --install-only installs it)")
  const mode: Options.Mode = opts.quick ? "quick" : "full"
  const { names, skipped } = available(env, opts.servers)
  const meta = Results.meta(env, mode)
  log(
    `scaling: ${mode} mode, ${meta.date}, ${meta.cpus} CPUs (${meta.cpu_placement}), nofile ${env.nofile}, servers ${names.join(", ")}, sections ${opts.only.join(", ")}`
  )
  const t0 = now()
  try {
    for (const sec of Options.sections) {
      if (!opts.only.includes(sec)) continue
      await section(sec, env, mode, { meta, names, skipped, results })
      Results.write(resultsFile, results)
      Figures.render(results, opts.out)
    }
  } finally {
    cleanupAll()
    if (!env.keepLogs) fs.rmSync(env.logdir, { recursive: true, force: true })
    else log(`scaling: server logs kept in ${env.logdir}`)
  }
  log(`scaling: done in ${Math.round(now() - t0)} s`)
}

const main = async (): Promise<void> => {
  installCleanup()
  const opts = Options.parse(process.argv.slice(2))
  fs.mkdirSync(opts.out, { recursive: true })
  const resultsFile = path.join(opts.out, "results.json")
  const results = Results.read(resultsFile, opts.renderOnly, Options.die)
  if (!opts.renderOnly) await measure(opts, results, resultsFile)
  const written = Figures.render(results, opts.out)
  const readme = Tables.updateReadme(results, opts.out)
  const files = [...(opts.renderOnly ? [] : ["results.json"]), ...written]
  log(
    `scaling: wrote ${files.map((f) => path.join(path.relative(Options.ROOT, opts.out), f)).join(", ")}${readme ? ", README.md tables" : ""}`
  )
  console.log(Tables.tables(results))
}

main().catch((e: unknown) => {
  console.error((e as Error | undefined)?.stack || e)
  cleanupAll()
  process.exit(1)
})
