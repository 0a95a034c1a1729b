/**
 * The machine the run measures on: its CPUs (the servers pinned to the last one, the load to the
 * others), its file descriptor limit, the peers' tools, and the command line of each server.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BENCH, HOST, NPM_PREFIX, PY, ROOT, type ServerName } from "./Options.ts"
import { log, run, tempDirs, which } from "./System.ts"

const allowedCpus = (): Array<number> => {
  const r = run(["taskset", "-pc", String(process.pid)])
  const list = r ? r.split(":").pop()!.trim() : `0-${os.cpus().length - 1}`
  const cpus: Array<number> = []
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number)
    for (let i = a!; i <= (b ?? a!); i++) cpus.push(i)
  }
  return cpus
}

// 20,000 idle connections need 20,000+ descriptors on both sides; the servers inherit ours
const raiseNofile = (): number => {
  const pid = String(process.pid)
  const want = 65536
  if (run(["prlimit", "--pid", pid, `--nofile=${want}:${want}`]) != null) return want
  const hard = Number(run(["prlimit", "--pid", pid, "--nofile", "--raw", "--noheadings", "-o", "HARD"]))
  if (hard && run(["prlimit", "--pid", pid, `--nofile=${hard}:${hard}`]) != null) return hard
  const soft = Number(run(["sh", "-c", "ulimit -n"]))
  return Number.isFinite(soft) ? soft : 1024
}

export class Env {
  readonly cpus: ReadonlyArray<number> = allowedCpus()
  readonly taskset: string | null = which("taskset")
  serverCpu: number | null = null
  loadCpus: ReadonlyArray<number> | null = null
  readonly nofile: number
  readonly root: boolean = process.getuid?.() === 0
  readonly smtpSource: string | null = which("smtp-source")
  readonly smtpSink: string | null = which("smtp-sink")
  readonly logdir: string
  keepLogs = false

  constructor() {
    if (this.taskset && this.cpus.length >= 2) {
      this.serverCpu = this.cpus[this.cpus.length - 1]!
      this.loadCpus = this.cpus.slice(0, -1)
      // pin this process (all its threads) and so every load generator it starts
      if (run([this.taskset, "-a", "-p", "-c", this.loadCpus.join(","), String(process.pid)]) == null) {
        log("scaling: note: could not pin this process; CPU placement left to the scheduler")
        this.serverCpu = this.loadCpus = null
      }
    }
    this.nofile = raiseNofile()
    this.logdir = fs.mkdtempSync(path.join(os.tmpdir(), "smtp-scaling-"))
    tempDirs.add(this.logdir)
  }

  command(name: ServerName, port: number | string): Array<string> {
    switch (name) {
      case "ours":
        // the bench's target command, plus --max-connections 0: the default cap of
        // 10,000 simultaneous connections would refuse the 20,000-connection point
        return [
          "node",
          path.join(ROOT, "dist/effect-smtpd.js"),
          ...["-n", "-c", "Sink", "--size", "0", "--max-connections", "0", `${HOST}:${port}`]
        ]
      case "smtp-server":
        return ["node", path.join(BENCH, "adapters/smtp-server-sink.mjs"), "--port", String(port)]
      case "aiosmtpd":
        return [PY, path.join(BENCH, "adapters/aiosmtpd_sink.py"), "--port", String(port)]
      case "smtp-sink": {
        // as in the bench, but -m (its cap on simultaneous connections) above 20,000
        const user = this.root ? ["-u", "nobody"] : []
        return [this.smtpSink ?? "smtp-sink", ...user, "-m", "30000", `${HOST}:${port}`, "1024"]
      }
    }
  }

  /** Why a server cannot run here, or null. */
  unavailable(name: ServerName): string | null {
    switch (name) {
      case "ours":
        return fs.existsSync(path.join(ROOT, "dist/effect-smtpd.js"))
          ? null
          : "dist/effect-smtpd.js missing: npm run build"
      case "smtp-server":
        if (!fs.existsSync(path.join(BENCH, "adapters/smtp-server-sink.mjs"))) return `${BENCH}/adapters missing`
        return fs.existsSync(path.join(NPM_PREFIX, "node_modules/smtp-server/package.json"))
          ? null
          : `smtp-server not installed in ${NPM_PREFIX}: ../shared/bench/run --install-only`
      case "aiosmtpd":
        if (!fs.existsSync(PY)) return `${PY} missing`
        return run([PY, "-c", "import aiosmtpd"]) != null ? null : "python3-aiosmtpd not importable"
      case "smtp-sink":
        return this.smtpSink ? null : "smtp-sink missing (Debian package postfix)"
    }
  }

  /** The command line recorded in results.json, without this machine's paths. */
  describe(name: ServerName): string {
    return this.command(name, "{port}")
      .join(" ")
      .replaceAll(ROOT + "/", "")
      .replaceAll(BENCH + "/", "<bench>/")
  }
}
