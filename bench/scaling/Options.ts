/**
 * The scaling run's command line, where it finds the peers, and the fixed parameters of its two
 * modes (full and quick).
 */
import * as path from "node:path"

export const ROOT = path.resolve(import.meta.dirname, "..", "..")
export const BENCH = path.resolve(process.env.SMTP_BENCH_DIR || path.join(ROOT, "..", "shared", "bench"))
const CACHE =
  process.env.SMTP_BENCH_CACHE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(process.env.HOME || "/tmp", ".cache"), "smtp-bench")
/** Where `../shared/bench/run --install-only` puts smtp-server. */
export const NPM_PREFIX = path.join(CACHE, "node")
export const PY = "/usr/bin/python3"
export const HOST = "127.0.0.1"
/** The throughput section's message size, as in ../shared/bench. */
export const MSG_SIZE = 4096
export const KiB = 1024
export const MiB = 1024 * 1024

export const sections = ["throughput", "memory", "size"] as const
export type Section = (typeof sections)[number]

export const serverNames = ["ours", "smtp-server", "aiosmtpd", "smtp-sink"] as const
export type ServerName = (typeof serverNames)[number]

export type Mode = "full" | "quick"

export interface Profile {
  readonly tp: {
    readonly sessions: ReadonlyArray<number>
    readonly runS: number
    readonly maxMessages: number
    readonly pauseS: number
    readonly rounds: number
    readonly warm: number
  }
  readonly mem: {
    readonly conns: ReadonlyArray<number>
    readonly openBudgetS: number
    readonly inFlight: number
    readonly settleS: number
  }
  readonly size: {
    readonly sizes: ReadonlyArray<number>
    readonly reps: Readonly<Record<number, number>>
    readonly budgetS: number
    readonly messageTimeoutS: number
  }
}

export const profiles: Readonly<Record<Mode, Profile>> = {
  full: {
    tp: { sessions: [1, 4, 16, 64, 256, 1024], runS: 3, maxMessages: 300000, pauseS: 0.5, rounds: 3, warm: 2000 },
    mem: { conns: [100, 1000, 5000, 10000, 20000], openBudgetS: 180, inFlight: 200, settleS: 1 },
    size: {
      sizes: [1 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 64 * MiB, 256 * MiB],
      reps: { [KiB]: 30, [64 * KiB]: 20, [MiB]: 10, [16 * MiB]: 4, [64 * MiB]: 3, [256 * MiB]: 2 },
      budgetS: 240,
      messageTimeoutS: 180
    }
  },
  quick: {
    tp: { sessions: [1, 16, 256, 1024], runS: 1.5, maxMessages: 100000, pauseS: 0.3, rounds: 1, warm: 600 },
    mem: { conns: [100, 1000, 5000], openBudgetS: 60, inFlight: 200, settleS: 1 },
    size: {
      sizes: [1 * KiB, 1 * MiB, 64 * MiB],
      reps: { [KiB]: 10, [MiB]: 5, [64 * MiB]: 2 },
      budgetS: 120,
      messageTimeoutS: 120
    }
  }
}

export interface Options {
  readonly quick: boolean
  readonly servers: ReadonlyArray<ServerName>
  readonly only: ReadonlyArray<Section>
  readonly renderOnly: boolean
  /** Absolute. */
  readonly out: string
}

const usage = [
  "usage: node bench/scaling/main.ts [--quick] [--servers ours,smtp-server,aiosmtpd,smtp-sink]",
  "                                  [--only throughput,memory,size] [--render-only] [--out DIR]",
  "Measures the scaling curves and writes DIR/results.json and DIR/{throughput,memory,size}.svg",
  "(DIR default docs/performance). Sections or servers not run keep their previous results.",
  "Build first (npm run build); the peers need ../shared/bench/run --install-only once."
].join("\n")

/** Stops the run with a usage error. */
export const die = (msg: string): never => {
  console.error(`scaling: ${msg}`)
  return process.exit(2)
}

const list = (value: string): Array<string> =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)

const checked = <A extends string>(values: Array<string>, known: ReadonlyArray<A>, what: string): Array<A> => {
  for (const s of values)
    if (!(known as ReadonlyArray<string>).includes(s)) die(`unknown ${what} ${s} (${known.join(", ")})`)
  return values as Array<A>
}

/** `--name value` and `--name=value` both work, as they did. */
export const parse = (argv: ReadonlyArray<string>): Options => {
  let quick = false
  let renderOnly = false
  let servers: Array<string> = [...serverNames]
  let only: Array<string> = [...sections]
  let out = "docs/performance"
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const val = (): string => {
      if (a.includes("=")) return a.slice(a.indexOf("=") + 1)
      if (i + 1 >= argv.length) die(`${a} needs a value`)
      return argv[++i]!
    }
    if (a === "--quick") quick = true
    else if (a === "--render-only") renderOnly = true
    else if (a.startsWith("--servers")) servers = list(val())
    else if (a.startsWith("--only")) only = list(val())
    else if (a.startsWith("--out")) out = val()
    else if (a === "-h" || a === "--help") {
      console.log(usage)
      process.exit(0)
    } else die(`unknown argument ${a} (try --help)`)
  }
  return {
    quick,
    renderOnly,
    servers: checked(servers, serverNames, "server"),
    only: checked(only, sections, "section"),
    out: path.resolve(ROOT, out)
  }
}
