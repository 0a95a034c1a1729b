#!/usr/bin/env node
// Scaling curves for effect-smtpd and its peers, as pictures.
//
//   npm run build && node scripts/scaling.mjs            # full run (about 9 minutes)
//   node scripts/scaling.mjs --quick                     # fewer points, shorter runs
//   node scripts/scaling.mjs --servers ours,smtp-server --only throughput,size
//   node scripts/scaling.mjs --render-only               # redraw the SVGs from results.json
//
// Measures, one server at a time, on 127.0.0.1 (server pinned to the last CPU, load to
// the others, with taskset when there are 2+ CPUs):
//   1. throughput: messages/s with 4 KiB messages over N persistent sessions
//      (smtp-source -d -s N -l 4096), a fixed run time per point, the rate computed as
//      ../shared/bench does: messages completed / time of the last completion (-c counter);
//   2. memory: server RSS while holding N idle connections (greeting read, EHLO sent),
//      each N against a freshly started server: total RSS and (RSS held - RSS before) / N;
//   3. size: time from the first body byte to the 250 reply for one message of each size,
//      the body streamed from a generator (never held in memory by the client).
// Writes docs/performance/results.json and throughput.svg, memory.svg, size.svg there,
// and refreshes the tables between the markers in docs/performance/README.md.
//
// The peers come from ../shared/bench (not modified): nodemailer's smtp-server through
// adapters/smtp-server-sink.mjs (installed by `../shared/bench/run --install-only` into
// ${SMTP_BENCH_CACHE:-~/.cache/smtp-bench}/node), aiosmtpd through adapters/aiosmtpd_sink.py
// with /usr/bin/python3, Postfix's smtp-sink. Load: Postfix's smtp-source, and the small
// SMTP client below (idle connections, large messages). Plain Node, no dependencies.
// Every loop has a time cap; a point a server fails is recorded as missing; every process
// started here is stopped (SIGTERM to its process group, then SIGKILL).

import { spawn, spawnSync } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const BENCH = path.resolve(process.env.SMTP_BENCH_DIR || path.join(ROOT, "..", "shared", "bench"))
const CACHE =
  process.env.SMTP_BENCH_CACHE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(process.env.HOME || "/tmp", ".cache"), "smtp-bench")
const NPM_PREFIX = path.join(CACHE, "node")
const PY = "/usr/bin/python3"
const HOST = "127.0.0.1"
const MSG_SIZE = 4096
const KiB = 1024
const MiB = 1024 * 1024

const PROFILES = {
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

const SECTIONS = ["throughput", "memory", "size"]
const SERVER_NAMES = ["ours", "smtp-server", "aiosmtpd", "smtp-sink"]
const STYLE = {
  ours: { label: "effect-smtpd (ours)", color: "#d62728", width: 3 },
  "smtp-server": { label: "smtp-server (nodemailer)", color: "#1f77b4", width: 2 },
  aiosmtpd: { label: "aiosmtpd (Python)", color: "#2ca02c", width: 2 },
  "smtp-sink": { label: "Postfix smtp-sink (C, limit)", color: "#7f7f7f", width: 2, dash: "6 4" }
}

// ------------------------------------------------------------------ small helpers

const log = (...a) => console.error(...a)
const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000))
const now = () => performance.now() / 1000
const median = (xs) => {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}
const round = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d)

function which(name) {
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

function run(argv, timeoutMs = 20000) {
  try {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: timeoutMs })
    return r.status === 0 ? r.stdout.trim() : null
  } catch {
    return null
  }
}

function parseArgs(argv) {
  const o = { quick: false, servers: SERVER_NAMES, only: SECTIONS, renderOnly: false, out: "docs/performance" }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (a.includes("=")) return a.slice(a.indexOf("=") + 1)
      if (i + 1 >= argv.length) die(`${a} needs a value`)
      return argv[++i]
    }
    if (a === "--quick") o.quick = true
    else if (a === "--render-only") o.renderOnly = true
    else if (a.startsWith("--servers"))
      o.servers = val()
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    else if (a.startsWith("--only"))
      o.only = val()
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    else if (a.startsWith("--out")) o.out = val()
    else if (a === "-h" || a === "--help") {
      console.log(
        [
          "usage: node scripts/scaling.mjs [--quick] [--servers ours,smtp-server,aiosmtpd,smtp-sink]",
          "                                [--only throughput,memory,size] [--render-only] [--out DIR]",
          "Measures the scaling curves and writes DIR/results.json and DIR/{throughput,memory,size}.svg",
          "(DIR default docs/performance). Sections or servers not run keep their previous results.",
          "Build first (npm run build); the peers need ../shared/bench/run --install-only once."
        ].join("\n")
      )
      process.exit(0)
    } else die(`unknown argument ${a} (try --help)`)
  }
  for (const s of o.servers) if (!SERVER_NAMES.includes(s)) die(`unknown server ${s} (${SERVER_NAMES.join(", ")})`)
  for (const s of o.only) if (!SECTIONS.includes(s)) die(`unknown section ${s} (${SECTIONS.join(", ")})`)
  o.out = path.resolve(ROOT, o.out)
  return o
}

function die(msg) {
  console.error(`scaling: ${msg}`)
  process.exit(2)
}

// ------------------------------------------------------------------ /proc

function procStatus(pid) {
  const out = {}
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      const [k, v] = line.split(":")
      if (k === "VmRSS" || k === "VmHWM" || k === "Threads") out[k] = parseInt(v, 10)
    }
  } catch {}
  return out
}

function pgrpOf(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[2])
  } catch {
    return null
  }
}

function groupPids(pgid) {
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => pgrpOf(p) === pgid)
}

function listenerPid(port, pgid) {
  const inodes = new Set()
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = ""
    try {
      text = fs.readFileSync(f, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const p = line.trim().split(/\s+/)
      if (p.length > 9 && p[3] === "0A" && parseInt(p[1].split(":")[1], 16) === port) inodes.add(`socket:[${p[9]}]`)
    }
  }
  for (const pid of groupPids(pgid)) {
    let fds = []
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        if (inodes.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))) return pid
      } catch {}
    }
  }
  return null
}

// ------------------------------------------------------------------ processes

const groups = new Set() // process groups started here, killed on exit

function killGroup(pgid, sig) {
  try {
    process.kill(-pgid, sig)
  } catch {}
}

const tempDirs = new Set() // removed on exit unless a server failed (its log is kept)

function cleanupAll() {
  for (const g of groups) killGroup(g, "SIGKILL")
  groups.clear()
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true })
  tempDirs.clear()
}
process.on("exit", cleanupAll)
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`\nscaling: ${sig}, stopping everything started here`)
    cleanupAll()
    process.exit(130)
  })
}

async function stopChild(child, graceS = 5) {
  if (!child || child.pid == null) return
  const pgid = child.pid
  if (child.exitCode == null && child.signalCode == null) {
    killGroup(pgid, "SIGTERM")
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(graceS)])
  }
  if (groupPids(pgid).length) killGroup(pgid, "SIGKILL")
  const t = now()
  while (groupPids(pgid).length && now() - t < 5) await sleep(0.05)
  groups.delete(pgid)
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once("error", reject)
    s.listen(0, HOST, () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
}

// ------------------------------------------------------------------ a small SMTP client

function parseReply(buf) {
  let start = 0
  for (;;) {
    const end = buf.indexOf("\r\n", start)
    if (end < 0) return null
    const line = buf.slice(start, end)
    start = end + 2
    if (line.length < 3) throw new Error(`bad reply line ${JSON.stringify(line.slice(0, 80))}`)
    if (line.length === 3 || line[3] === " ") return { code: Number(line.slice(0, 3)), used: start }
  }
}

class Client {
  constructor(sock) {
    this.sock = sock
    this.buf = ""
    this.waiter = null
    this.failure = null
    this.closed = false
    sock.on("data", (d) => {
      this.buf += d.toString("latin1")
      if (this.buf.length > 65536) this.buf = this.buf.slice(-4096)
      this.check()
    })
    sock.on("error", (e) => {
      this.failure ??= e
      this.check()
    })
    sock.on("close", () => {
      this.closed = true
      this.failure ??= new Error("connection closed by server")
      this.check()
    })
  }
  static connect(port, localAddress, timeoutS) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: HOST, port, ...(localAddress ? { localAddress } : {}) })
      const timer = setTimeout(() => {
        sock.destroy()
        reject(new Error("connect timeout"))
      }, timeoutS * 1000)
      sock.once("connect", () => {
        clearTimeout(timer)
        sock.setNoDelay(true)
        resolve(new Client(sock))
      })
      sock.once("error", (e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
  }
  check() {
    if (!this.waiter) return
    let r = null
    try {
      r = parseReply(this.buf)
    } catch (e) {
      const w = this.waiter
      this.waiter = null
      return w.reject(e)
    }
    if (r) {
      this.buf = this.buf.slice(r.used)
      const w = this.waiter
      this.waiter = null
      w.resolve(r.code)
    } else if (this.failure) {
      const w = this.waiter
      this.waiter = null
      w.reject(this.failure)
    }
  }
  reply(expect) {
    return new Promise((resolve, reject) => {
      this.waiter = {
        resolve: (code) => (code === expect ? resolve(code) : reject(new Error(`expected ${expect}, got ${code}`))),
        reject
      }
      this.check()
    })
  }
  cmd(line, expect) {
    this.sock.write(line + "\r\n")
    return this.reply(expect)
  }
  drain() {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure)
      const done = (e) => {
        this.sock.off("drain", ok)
        this.sock.off("close", bad)
        e ? reject(e) : resolve()
      }
      const ok = () => done()
      const bad = () => done(this.failure || new Error("connection closed"))
      this.sock.once("drain", ok)
      this.sock.once("close", bad)
    })
  }
  abort() {
    if (typeof this.sock.resetAndDestroy === "function" && !this.sock.destroyed) this.sock.resetAndDestroy()
    else this.sock.destroy()
  }
}

function withTimeout(promise, s, what, onTimeout) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => {
        onTimeout?.()
        reject(new Error(`${what}: timeout after ${s}s`))
      }, s * 1000)
    })
  ]).finally(() => clearTimeout(timer))
}

// the body, streamed: headers, then 78-character lines, then the final dot
const LINE = Buffer.from("x".repeat(78) + "\r\n")
const BLOCK = Buffer.concat(Array(819).fill(LINE)) // 65,520 bytes of whole lines
const HEAD = Buffer.from("From: sender@bench.local\r\nTo: rcpt@bench.local\r\nSubject: scaling\r\n\r\n")

function* messageBody(payload) {
  yield HEAD
  let left = payload
  while (left >= BLOCK.length) {
    yield BLOCK
    left -= BLOCK.length
  }
  const whole = Math.floor(left / LINE.length)
  if (whole) yield BLOCK.subarray(0, whole * LINE.length)
  const rest = left - whole * LINE.length
  if (rest) yield Buffer.from("y".repeat(Math.max(rest - 2, 1)) + "\r\n")
  yield Buffer.from(".\r\n")
}

async function sendOne(port, payload, timeoutS) {
  let c = null
  const go = async () => {
    const t0 = now()
    c = await Client.connect(port, null, 10)
    await c.reply(220)
    await c.cmd("EHLO bench.client", 250)
    await c.cmd("MAIL FROM:<sender@bench.local>", 250)
    await c.cmd("RCPT TO:<rcpt@bench.local>", 250)
    await c.cmd("DATA", 354)
    const t1 = now()
    for (const chunk of messageBody(payload)) {
      if (!c.sock.write(chunk)) await c.drain()
    }
    await c.reply(250)
    const t2 = now()
    await c.cmd("QUIT", 221)
    return { data_s: t2 - t1, session_s: t2 - t0 }
  }
  try {
    return await withTimeout(go(), timeoutS, "message", () => c?.abort())
  } finally {
    c?.abort()
  }
}

async function openIdle(port, localAddress, timeoutS) {
  let c = null
  const go = async () => {
    c = await Client.connect(port, localAddress, timeoutS)
    await c.reply(220)
    await c.cmd("EHLO bench.client", 250)
    return c
  }
  try {
    return await withTimeout(go(), timeoutS, "handshake", () => c?.abort())
  } catch (e) {
    c?.abort()
    throw e
  }
}

async function waitGreeting(port, child, timeoutS) {
  const deadline = now() + timeoutS
  let last = null
  while (now() < deadline) {
    if (child.exitCode != null || child.signalCode != null)
      throw new Error(`exited (${child.exitCode ?? child.signalCode})`)
    let c = null
    try {
      c = await Client.connect(port, null, 3)
      await withTimeout(c.reply(220), 3, "greeting")
      c.abort()
      return
    } catch (e) {
      c?.abort()
      last = e
      await sleep(0.05)
    }
  }
  throw new Error(`no 220 greeting within ${timeoutS}s (${last?.message})`)
}

// ------------------------------------------------------------------ servers and load

class Env {
  constructor() {
    this.cpus = (() => {
      const r = run(["taskset", "-pc", String(process.pid)])
      const list = r ? r.split(":").pop().trim() : `0-${os.cpus().length - 1}`
      const cpus = []
      for (const part of list.split(",")) {
        const [a, b] = part.split("-").map(Number)
        for (let i = a; i <= (b ?? a); i++) cpus.push(i)
      }
      return cpus
    })()
    this.taskset = which("taskset")
    this.serverCpu = null
    this.loadCpus = null
    if (this.taskset && this.cpus.length >= 2) {
      this.serverCpu = this.cpus[this.cpus.length - 1]
      this.loadCpus = this.cpus.slice(0, -1)
      // pin this process (all its threads) and so every load generator it starts
      if (run([this.taskset, "-a", "-p", "-c", this.loadCpus.join(","), String(process.pid)]) == null) {
        log("scaling: note: could not pin this process; CPU placement left to the scheduler")
        this.serverCpu = this.loadCpus = null
      }
    }
    // file descriptors: 20,000 idle connections need 20,000+ on both sides
    this.nofile = null
    const want = 65536
    if (run(["prlimit", "--pid", String(process.pid), `--nofile=${want}:${want}`]) != null) this.nofile = want
    else {
      const cur = run(["prlimit", "--pid", String(process.pid), "--nofile", "--raw", "--noheadings", "-o", "HARD"])
      const hard = Number(cur)
      if (hard && run(["prlimit", "--pid", String(process.pid), `--nofile=${hard}:${hard}`]) != null) this.nofile = hard
    }
    if (this.nofile == null) {
      const soft = Number(run(["sh", "-c", "ulimit -n"]))
      this.nofile = Number.isFinite(soft) ? soft : 1024
    }
    this.root = process.getuid?.() === 0
    this.smtpSource = which("smtp-source")
    this.smtpSink = which("smtp-sink")
    this.logdir = fs.mkdtempSync(path.join(os.tmpdir(), "smtp-scaling-"))
    tempDirs.add(this.logdir)
    this.keepLogs = false
  }

  command(name, port) {
    switch (name) {
      case "ours":
        // the bench's target command, plus --max-connections 0: the default cap of
        // 10,000 simultaneous connections would refuse the 20,000-connection point
        return [
          "node",
          path.join(ROOT, "dist/effect-smtpd.js"),
          "-n",
          "-c",
          "Sink",
          "--size",
          "0",
          "--max-connections",
          "0",
          `${HOST}:${port}`
        ]
      case "smtp-server":
        return ["node", path.join(BENCH, "adapters/smtp-server-sink.mjs"), "--port", String(port)]
      case "aiosmtpd":
        return [PY, path.join(BENCH, "adapters/aiosmtpd_sink.py"), "--port", String(port)]
      case "smtp-sink":
        // as in the bench, but -m (its cap on simultaneous connections) above 20,000
        return [this.smtpSink, ...(this.root ? ["-u", "nobody"] : []), "-m", "30000", `${HOST}:${port}`, "1024"]
    }
  }

  unavailable(name) {
    switch (name) {
      case "ours":
        return fs.existsSync(path.join(ROOT, "dist/effect-smtpd.js")) ? null : "dist/effect-smtpd.js missing: npm run build"
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

  describe(name) {
    return this.command(name, "{port}")
      .join(" ")
      .replaceAll(ROOT + "/", "")
      .replaceAll(BENCH + "/", "<bench>/")
  }
}

class Server {
  constructor(env, name) {
    this.env = env
    this.name = name
    this.child = null
    this.pid = null
    this.port = null
  }
  async start() {
    this.port = await freePort()
    const argv = this.env.command(this.name, this.port)
    const full = this.env.serverCpu != null ? [this.env.taskset, "-c", String(this.env.serverCpu), ...argv] : argv
    const logPath = path.join(this.env.logdir, `${this.name}-${this.port}.log`)
    const fd = fs.openSync(logPath, "a")
    this.child = spawn(full[0], full.slice(1), {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, SMTP_BENCH_NPM_PREFIX: NPM_PREFIX, PYTHONDONTWRITEBYTECODE: "1" }
    })
    fs.closeSync(fd)
    groups.add(this.child.pid)
    this.child.on("error", () => {})
    const t0 = now()
    try {
      await waitGreeting(this.port, this.child, 60)
      this.pid = listenerPid(this.port, this.child.pid)
      if (!this.pid) throw new Error("no started process holds the listening socket")
    } catch (e) {
      this.env.keepLogs = true
      tempDirs.delete(this.env.logdir)
      await this.stop()
      throw new Error(`${this.name} did not start: ${e.message} (log ${logPath})`)
    }
    log(`  started ${this.name.padEnd(12)} port ${this.port} pid ${this.pid} (${(now() - t0).toFixed(1)}s)`)
  }
  alive() {
    return this.child != null && this.child.exitCode == null && this.child.signalCode == null
  }
  status() {
    return procStatus(this.pid)
  }
  async stop() {
    if (this.child) await stopChild(this.child)
    this.child = null
    this.pid = null
  }
  async warm(n) {
    const a = await runSource(this.env, this.port, 8, n, MSG_SIZE, true, 30)
    const b = await runSource(this.env, this.port, 8, Math.max(50, Math.floor(n / 10)), MSG_SIZE, false, 30)
    for (const r of [a, b]) if (r.error) throw new Error(`${this.name} failed the warm-up: ${r.error}`)
  }
}

// smtp-source with its -c counter: messages completed and when, as ../shared/bench does
function runSource(env, port, sessions, messages, size, persistent, capS) {
  return new Promise((resolve) => {
    const argv = [
      ...(persistent ? ["-d"] : []),
      "-c",
      "-s",
      String(sessions),
      "-m",
      String(messages),
      "-l",
      String(size),
      "-M",
      "bench.local",
      `${HOST}:${port}`
    ]
    const t0 = now()
    const p = spawn(env.smtpSource, argv, { detached: true, stdio: ["ignore", "pipe", "pipe"] })
    groups.add(p.pid)
    let count = 0
    let tLast = t0
    let pending = ""
    let err = ""
    let capped = false
    const samples = []
    p.on("error", (e) => (err += String(e)))
    p.stdout.on("data", (chunk) => {
      const t = now()
      pending += chunk.toString("latin1")
      const parts = pending.split(/[\r\n]/)
      pending = parts.pop()
      for (let i = parts.length - 1; i >= 0; i--) {
        const tok = parts[i].trim()
        if (/^\d+$/.test(tok)) {
          count = Number(tok)
          tLast = t
          samples.push([t - t0, count])
          break
        }
      }
    })
    p.stderr.on("data", (d) => (err = (err + d.toString()).slice(-2000)))
    const timer = setTimeout(() => {
      capped = true
      killGroup(p.pid, "SIGTERM")
      setTimeout(() => killGroup(p.pid, "SIGKILL"), 5000).unref()
    }, capS * 1000)
    p.on("close", (code) => {
      clearTimeout(timer)
      groups.delete(p.pid)
      const elapsed = Math.max(tLast - t0, 1e-9)
      const res = { messages: count, seconds: round(elapsed, 4), rate: count ? round(count / elapsed) : 0, capped }
      // steady state: the same, without the first 20 % of the run (connection set-up)
      const ramp = Math.min(0.5, 0.2 * capS)
      const first = samples.find(([t]) => t >= ramp)
      if (first && tLast - t0 - first[0] > 0.2 * capS)
        res.steady_rate = round((count - first[1]) / (tLast - t0 - first[0]))
      if (!capped && (code !== 0 || count < messages)) {
        const lines = err.trim().split("\n").filter(Boolean)
        res.error = (lines.at(-1) || `exit ${code}, ${count}/${messages} messages`).slice(0, 200)
      }
      resolve(res)
    })
  })
}

// ------------------------------------------------------------------ 1. throughput

// the servers are all started (idle ones cost nothing) and loaded one at a time, the
// order rotated from point to point, as ../shared/bench does: drift on a shared machine
// then hits every server alike instead of the one that happened to run last
const rotated = (xs, k) => xs.slice(k % xs.length).concat(xs.slice(0, k % xs.length))

async function ensureRunning(srv, warm) {
  if (srv.alive()) return null
  if (srv.child) log(`  ${srv.name} is not running; restarting`)
  try {
    await srv.stop()
    await srv.start()
    await srv.warm(warm)
    return null
  } catch (e) {
    await srv.stop()
    return e.message.split("\n")[0]
  }
}

async function throughput(env, prof, names) {
  const P = prof.tp
  log(`-- throughput`)
  const servers = names.map((n) => new Server(env, n))
  const runs = Object.fromEntries(names.map((n) => [n, Object.fromEntries(P.sessions.map((s) => [s, []]))]))
  const failed = {}
  try {
    for (const srv of servers) {
      const err = await ensureRunning(srv, P.warm)
      if (err) {
        failed[srv.name] = err
        log(`  ERROR ${err}`)
      }
    }
    let k = 0
    for (let round_ = 0; round_ < P.rounds; round_++) {
      const order = round_ % 2 ? [...P.sessions].reverse() : P.sessions
      for (const n of order) {
        for (const srv of rotated(servers, k++)) {
          if (failed[srv.name]) {
            runs[srv.name][n].push({ error: failed[srv.name] })
            continue
          }
          const err = await ensureRunning(srv, 200)
          if (err) {
            runs[srv.name][n].push({ error: `server not running (${err})` })
            continue
          }
          const r = await runSource(env, srv.port, n, P.maxMessages, MSG_SIZE, true, P.runS)
          if (!srv.alive()) r.error = "server died"
          runs[srv.name][n].push(r)
          log(
            `  ${srv.name.padEnd(12)} ${String(n).padStart(5)} sessions ${String(Math.round(r.rate)).padStart(7)} msg/s` +
              ` (${r.messages} in ${r.seconds.toFixed(2)}s, steady ${r.steady_rate ?? "-"})${r.error ? "  ERROR " + r.error : ""}`
          )
          await sleep(P.pauseS)
        }
      }
    }
  } finally {
    for (const srv of servers) await srv.stop()
  }
  const out = {}
  for (const name of names) {
    out[name] = {
      command: env.describe(name),
      points: P.sessions.map((n) => {
        const rs = runs[name][n]
        const ok = rs.filter((r) => !r.error && r.messages > 0)
        const pt = {
          x: n,
          rate: round(median(ok.map((r) => r.rate))),
          steady_rate: round(median(ok.map((r) => r.steady_rate))),
          runs: rs
        }
        if (!ok.length) pt.error = rs.find((r) => r.error)?.error ?? "no messages"
        return pt
      })
    }
  }
  return {
    params: {
      message_bytes: MSG_SIZE,
      load: "smtp-source -d -c -s N -m M -l 4096 (persistent sessions)",
      run_seconds: P.runS,
      max_messages_per_run: P.maxMessages,
      rounds: P.rounds,
      warm_up: `${P.warm} messages over 8 persistent sessions + ${Math.max(50, Math.floor(P.warm / 10))} one-message sessions`,
      rate: "messages completed / time of the last completion (smtp-source -c counter), median of the rounds; steady_rate: the same without the first 20 % (at most 0.5 s) of the run",
      order:
        "all servers started and warmed, then loaded one at a time: for each N, each server in turn (order rotated); odd rounds take the N in reverse order"
    },
    servers: out
  }
}

// ------------------------------------------------------------------ 2. memory

async function holdIdle(port, count, P) {
  const conns = []
  const errors = {}
  const deadline = now() + P.openBudgetS
  let next = 0
  let alive = 0
  const perAddress = 5000 // < the 28k ephemeral ports of one source address
  const t0 = now()
  const worker = async () => {
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
        const k = (e.code || e.message || String(e)).slice(0, 80)
        errors[k] = (errors[k] || 0) + 1
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(P.inFlight, count) }, worker))
  const openS = now() - t0
  await sleep(P.settleS)
  return {
    conns,
    errors,
    openS,
    alive: () => alive,
    close: async () => {
      for (const c of conns) c.abort()
      await sleep(0.3)
    }
  }
}

async function memory(env, prof, names) {
  const P = prof.mem
  const out = {}
  // the server process needs one descriptor per connection plus its own few: when the
  // hard RLIMIT_NOFILE cannot be raised (no CAP_SYS_RESOURCE), the largest point is
  // measured just under it, and recorded with its real count
  const limit = env.nofile - 200
  const counts = [...new Set(P.conns.map((n) => Math.min(n, limit)))]
  log(`-- memory`)
  const points = Object.fromEntries(names.map((n) => [n, []]))
  let k = 0
  for (const n of counts) {
    for (const name of rotated(names, k++)) {
      const pt = { x: n }
      const asked = P.conns.filter((c) => c > limit)
      if (n === limit && asked.length) {
        pt.requested = Math.max(...asked)
        pt.note = `${fmtCount(pt.requested)} asked; file descriptor limit ${fmtCount(env.nofile)} (hard), so ${fmtCount(n)}`
      }
      const srv = new Server(env, name)
      let held = null
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
          kb_per_conn: alive && after.VmRSS != null ? round((after.VmRSS - before.VmRSS) / alive, 2) : null,
          open_errors: held.errors
        })
        if (!srv.alive()) pt.error = "server died"
        else if (alive < 0.99 * n) pt.error = `held only ${alive} of ${n}`
      } catch (e) {
        pt.error = e.message.split("\n")[0]
      } finally {
        await held?.close()
        await srv.stop()
      }
      points[name].push(pt)
      log(
        `  ${name.padEnd(12)} ${String(n).padStart(6)} idle: ` +
          (pt.rss_kb != null
            ? `held ${pt.held} in ${pt.open_seconds}s, RSS ${pt.rss_mib} MiB (before ${round(pt.rss_before_kb / 1024)}), ${pt.kb_per_conn} KB/conn`
            : "") +
          (Object.keys(pt.open_errors || {}).length ? `  open errors ${JSON.stringify(pt.open_errors)}` : "") +
          (pt.error ? `  ERROR ${pt.error}` : "")
      )
    }
  }
  for (const name of names) out[name] = { command: env.describe(name), points: points[name] }
  return {
    params: {
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
    },
    servers: out
  }
}

// ------------------------------------------------------------------ 3. size

async function sizes(env, prof, names) {
  const P = prof.size
  log(`-- size`)
  const servers = names.map((n) => new Server(env, n))
  const points = Object.fromEntries(names.map((n) => [n, []]))
  try {
    let k = 0
    for (const srv of servers) {
      const err = await ensureRunning(srv, 200)
      if (err) log(`  ERROR ${err}`)
    }
    for (const size of P.sizes) {
      for (const srv of rotated(servers, k++)) {
        const pt = { x: size }
        points[srv.name].push(pt)
        const err = await ensureRunning(srv, 200)
        if (err) {
          pt.error = `server not running (${err})`
          continue
        }
        const reps = P.reps[size] ?? 3
        const times = []
        const deadline = now() + P.budgetS
        for (let i = 0; i <= reps && now() < deadline; i++) {
          try {
            times.push(await sendOne(srv.port, size, P.messageTimeoutS))
          } catch (e) {
            pt.error = e.message.slice(0, 200)
            break
          }
        }
        const st = srv.status()
        const warmTimes = times.slice(1).map((t) => t.data_s)
        const s = median(warmTimes.length ? warmTimes : times.map((t) => t.data_s))
        Object.assign(pt, {
          seconds: s != null ? round(s, 6) : null,
          mib_per_s: s ? round(size / MiB / s, 1) : null,
          first_seconds: times.length ? round(times[0].data_s, 6) : null,
          messages: times.length,
          all_seconds: times.map((t) => round(t.data_s, 6)),
          peak_rss_mib: st.VmHWM != null ? round(st.VmHWM / 1024) : null,
          rss_mib: st.VmRSS != null ? round(st.VmRSS / 1024) : null
        })
        if (!srv.alive()) pt.error = pt.error || "server died"
        if (pt.error) pt.seconds = pt.mib_per_s = null
        log(
          `  ${srv.name.padEnd(12)} ${fmtBytes(size).padStart(8)}: ` +
            (pt.seconds != null
              ? `${fmtSeconds(pt.seconds)} (${pt.mib_per_s} MiB/s, first ${fmtSeconds(pt.first_seconds)}, ${times.length} msgs)`
              : "") +
            ` peak RSS ${pt.peak_rss_mib} MiB${pt.error ? "  ERROR " + pt.error : ""}`
        )
      }
    }
  } finally {
    for (const srv of servers) await srv.stop()
  }
  const out = {}
  for (const name of names) out[name] = { command: env.describe(name), points: points[name] }
  return {
    params: {
      client: "scripts/scaling.mjs (Node): the body streamed from a generator of 78-character lines, with backpressure",
      seconds:
        "time from the first body byte written to the 250 reply; median over the messages after the first (cold) one",
      messages_per_size: Object.fromEntries(P.sizes.map((s) => [s, 1 + (P.reps[s] ?? 3)])),
      peak_rss: "VmHWM of the server after that size (sizes go up, so it is the peak for the largest message so far)",
      order:
        "all servers started and warmed (200 messages); for each size, each server in turn (order rotated); one process per server for all sizes (restarted only if it dies)",
      budget_seconds_per_size: P.budgetS
    },
    servers: out
  }
}

// ------------------------------------------------------------------ SVG

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

function fmtNum(v) {
  if (v === 0) return "0"
  const a = Math.abs(v)
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`
  if (a >= 1) return `${+v.toPrecision(4)}`.replace(/\B(?=(\d{3})+(?!\d))/g, ",")
  return `${+v.toPrecision(2)}`
}
function fmtCount(v) {
  return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ",")
}
function fmtBytes(b) {
  if (b >= MiB) return `${+(b / MiB).toPrecision(3)} MiB`
  if (b >= KiB) return `${+(b / KiB).toPrecision(3)} KiB`
  return `${b} B`
}
function fmtSeconds(s) {
  if (s == null) return "-"
  if (s < 1e-3) return `${+(s * 1e6).toPrecision(2)} µs`
  if (s < 1) return `${+(s * 1e3).toPrecision(3)} ms`
  return `${+s.toPrecision(3)} s`
}
function fmtMiB(v) {
  if (v >= 1024) return `${+(v / 1024).toPrecision(3)} GiB`
  return `${+v.toPrecision(3)} MiB`
}

function niceLinear(max) {
  if (!(max > 0)) max = 1
  const raw = max / 5
  const p = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw)
  const top = Math.ceil((max * 1.05) / step) * step
  const ticks = []
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(round(v, 10))
  return { lo: 0, hi: top, ticks }
}

function niceLog(min, max) {
  if (!(min > 0)) min = max > 0 ? max / 10 : 1
  if (!(max > 0)) max = min * 10
  let lo = Math.floor(Math.log10(min))
  let hi = Math.ceil(Math.log10(max))
  if (hi === lo) hi++
  const decades = hi - lo
  const mult = decades <= 2 ? [1, 2, 5] : decades <= 4 ? [1, 3] : [1]
  const ticks = []
  for (let e = lo; e <= hi; e++) for (const m of mult) if (m * 10 ** e <= 10 ** hi * 1.0001) ticks.push(m * 10 ** e)
  return { lo: 10 ** lo, hi: 10 ** hi, ticks, log: true }
}

// panels: [{ xlabel, ylabel, xs, xfmt, ylog, yfmt, series: [{ name, values: [y|null per xs] }] }]
function svgChart({ title, subtitle, panels, notes }) {
  const PW = panels.length === 1 ? 860 : 520
  const PH = 330
  const ML = 78
  const MR = 24
  const MT = 78
  const W = panels.length * (ML + PW + MR) + 10
  // legend entries and notes wrap to the width (about 6.6 and 6 px per character)
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))]
  const legend = [[]]
  let used = 0
  for (const n of names) {
    const w = 44 + STYLE[n].label.length * 6.6
    if (used + w > W - ML - 10 && legend.at(-1).length) {
      legend.push([])
      used = 0
    }
    legend.at(-1).push([n, used])
    used += w
  }
  const perLine = Math.floor((W - ML - 20) / 6)
  const lines = []
  for (const n of notes) {
    let rest = n
    const indent = n.match(/^ */)[0] + "  "
    let first = true
    while (rest.length > perLine) {
      let cut = rest.lastIndexOf(" ", perLine)
      if (cut <= perLine / 2) cut = perLine
      lines.push((first ? "" : indent) + rest.slice(0, cut).trimEnd())
      rest = rest.slice(cut).trimStart()
      first = false
    }
    lines.push((first ? "" : indent) + rest)
  }
  const H = MT + PH + 58 + legend.length * 22 + lines.length * 16 + 18
  const o = []
  o.push(`<?xml version="1.0" encoding="UTF-8"?>`)
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`
  )
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`)
  o.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${esc(title)}</text>`)
  o.push(`<text x="${W / 2}" y="46" text-anchor="middle" font-size="12" fill="#444">${esc(subtitle)}</text>`)
  panels.forEach((p, pi) => {
    const x0 = 5 + pi * (ML + PW + MR) + ML
    const y0 = MT
    const lx = Math.log10(Math.min(...p.xs) / 1.4)
    const hx = Math.log10(Math.max(...p.xs) * 1.4)
    const X = (v) => x0 + ((Math.log10(v) - lx) / (hx - lx)) * PW
    const ys = p.series.flatMap((s) => s.values).filter((v) => typeof v === "number" && v > 0)
    const sc = p.ylog ? niceLog(Math.min(...ys), Math.max(...ys)) : niceLinear(ys.length ? Math.max(...ys) : 1)
    const Y = p.ylog
      ? (v) => y0 + PH - ((Math.log10(v) - Math.log10(sc.lo)) / (Math.log10(sc.hi) - Math.log10(sc.lo))) * PH
      : (v) => y0 + PH - ((v - sc.lo) / (sc.hi - sc.lo)) * PH
    if (p.title)
      o.push(
        `<text x="${x0 + PW / 2}" y="${y0 - 10}" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`
      )
    o.push(`<rect x="${x0}" y="${y0}" width="${PW}" height="${PH}" fill="#fafafa" stroke="#999"/>`)
    for (const t of sc.ticks) {
      const y = Y(t).toFixed(1)
      o.push(`<line x1="${x0}" y1="${y}" x2="${x0 + PW}" y2="${y}" stroke="#e2e2e2"/>`)
      o.push(
        `<text x="${x0 - 6}" y="${(+y + 4).toFixed(1)}" text-anchor="end" fill="#333">${esc((p.yfmt || fmtNum)(t))}</text>`
      )
    }
    for (const v of p.xs) {
      const x = X(v).toFixed(1)
      o.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + PH}" stroke="#e2e2e2"/>`)
      o.push(`<line x1="${x}" y1="${y0 + PH}" x2="${x}" y2="${y0 + PH + 5}" stroke="#666"/>`)
      o.push(`<text x="${x}" y="${y0 + PH + 19}" text-anchor="middle" fill="#333">${esc((p.xfmt || fmtNum)(v))}</text>`)
    }
    o.push(`<text x="${x0 + PW / 2}" y="${y0 + PH + 40}" text-anchor="middle" font-size="13">${esc(p.xlabel)}</text>`)
    o.push(
      `<text transform="translate(${x0 - 60},${y0 + PH / 2}) rotate(-90)" text-anchor="middle" font-size="13">${esc(p.ylabel)}</text>`
    )
    for (const s of p.series) {
      const st = STYLE[s.name]
      let seg = []
      const segs = []
      p.xs.forEach((xv, i) => {
        const v = s.values[i]
        if (typeof v === "number" && v > 0) seg.push([X(xv), Y(v)])
        else if (seg.length) {
          segs.push(seg)
          seg = []
        }
      })
      if (seg.length) segs.push(seg)
      for (const g of segs) {
        if (g.length > 1)
          o.push(
            `<polyline fill="none" stroke="${st.color}" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ""} stroke-linejoin="round" points="${g.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>`
          )
        for (const [a, b] of g)
          o.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="${st.width + 1}" fill="${st.color}"/>`)
      }
      // a missing point: a hollow marker on the x axis
      p.xs.forEach((xv, i) => {
        if (s.values[i] === null && s.missing?.[i])
          o.push(
            `<text x="${X(xv).toFixed(1)}" y="${y0 + PH - 4}" text-anchor="middle" font-size="14" font-weight="bold" fill="${st.color}">×</text>`
          )
      })
    }
  })
  // legend
  const ly = MT + PH + 62
  legend.forEach((row, r) => {
    for (const [n, dx] of row) {
      const st = STYLE[n]
      const lx = 5 + ML + dx
      const y = ly + r * 22
      o.push(
        `<line x1="${lx}" y1="${y}" x2="${lx + 28}" y2="${y}" stroke="${st.color}" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ""}/>`
      )
      o.push(`<circle cx="${lx + 14}" cy="${y}" r="${st.width + 1}" fill="${st.color}"/>`)
      o.push(`<text x="${lx + 34}" y="${y + 4}">${esc(st.label)}</text>`)
    }
  })
  const ny = ly + (legend.length - 1) * 22 + 24
  lines.forEach((n, i) =>
    o.push(`<text x="${5 + ML}" y="${ny + i * 16}" font-size="11" fill="#555" xml:space="preserve">${esc(n)}</text>`)
  )
  o.push(`</svg>`)
  return o.join("\n") + "\n"
}

function seriesOf(section, key, names) {
  const xsAll = new Set()
  for (const n of names) for (const p of section.servers[n]?.points || []) xsAll.add(p.x)
  const xs = [...xsAll].sort((a, b) => a - b)
  const series = names
    .filter((n) => section.servers[n])
    .map((n) => {
      const pts = section.servers[n].points
      const values = xs.map((x) => {
        const p = pts.find((q) => q.x === x)
        return p && !p.error && typeof p[key] === "number" ? p[key] : null
      })
      const missing = xs.map((x) => {
        const p = pts.find((q) => q.x === x)
        return Boolean(p && p.error)
      })
      return { name: n, values, missing }
    })
  return { xs, series }
}

function missingNotes(section, names, xfmt) {
  const out = []
  for (const n of names) {
    const bad = (section.servers[n]?.points || []).filter((p) => p.error)
    if (bad.length)
      out.push(`${STYLE[n].label}: missing at ${bad.map((p) => `${xfmt(p.x)} (${p.error.slice(0, 60)})`).join("; ")}`)
  }
  return out.length ? ["× on the axis = point missing (the server failed it):", ...out.map((s) => "  " + s)] : []
}

const day = (iso) => (iso || "").slice(0, 10)

function render(results, outDir) {
  const names = SERVER_NAMES
  const written = []
  const tp = results.throughput
  if (tp) {
    const { xs, series } = seriesOf(tp, "rate", names)
    fs.writeFileSync(
      path.join(outDir, "throughput.svg"),
      svgChart({
        title: `Throughput against concurrent sessions (${day(tp.meta?.date)}, 2 cores, loopback)`,
        subtitle: `4 KiB messages, N persistent sessions (smtp-source -d -s N -l 4096), ${tp.params.run_seconds} s per point, ${tp.meta?.mode} mode. Higher is better.`,
        panels: [
          { xs, series, xlabel: "concurrent sessions N (log scale)", ylabel: "messages per second", xfmt: fmtCount }
        ],
        notes: [
          `Server on one CPU, smtp-source on the other. Rate = messages completed / time of the last one (as ../shared/bench); median of ${tp.params.rounds} round(s).`,
          ...missingNotes(tp, names, fmtCount)
        ]
      })
    )
    written.push("throughput.svg")
  }
  const mem = results.memory
  if (mem) {
    const a = seriesOf(mem, "rss_mib", names)
    const b = seriesOf(mem, "kb_per_conn", names)
    fs.writeFileSync(
      path.join(outDir, "memory.svg"),
      svgChart({
        title: `Memory against idle connections (${day(mem.meta?.date)}, 2 cores, loopback)`,
        subtitle: `Connections that read the greeting and sent EHLO, held open; a freshly started server per point; ${mem.meta?.mode} mode. Lower is better.`,
        panels: [
          {
            ...a,
            title: "server RSS while holding N connections",
            xlabel: "idle connections N (log scale)",
            ylabel: "RSS, MiB (log scale)",
            xfmt: fmtCount,
            ylog: true,
            yfmt: (v) => fmtNum(v)
          },
          {
            ...b,
            title: "RSS growth per connection",
            xlabel: "idle connections N (log scale)",
            ylabel: "KB per connection (log scale)",
            xfmt: fmtCount,
            ylog: true,
            yfmt: (v) => fmtNum(v)
          }
        ],
        notes: [
          "RSS = VmRSS of the server process 1 s after the last connection opened; KB/conn = (RSS held − RSS before) / N. smtp-sink keeps 2 × 128 KiB buffers per connection.",
          ...[
            ...new Set(names.flatMap((n) => (mem.servers[n]?.points || []).filter((p) => p.note).map((p) => p.note)))
          ].map((t) => `Largest point: ${t} (the per-process hard limit on this machine cannot be raised).`),
          ...missingNotes(mem, names, fmtCount)
        ]
      })
    )
    written.push("memory.svg")
  }
  const sz = results.size
  if (sz) {
    const a = seriesOf(sz, "seconds", names)
    const b = seriesOf(sz, "peak_rss_mib", names)
    fs.writeFileSync(
      path.join(outDir, "size.svg"),
      svgChart({
        title: `Time to accept one message against its size (${day(sz.meta?.date)}, 2 cores, loopback)`,
        subtitle: `One session, body streamed by the client; time from the first body byte to the 250 reply, median of the warm messages; ${sz.meta?.mode} mode. Lower is better.`,
        panels: [
          {
            ...a,
            title: "first body byte → 250",
            xlabel: "message size (log scale)",
            ylabel: "seconds (log scale)",
            xfmt: fmtBytes,
            ylog: true,
            yfmt: fmtSeconds
          },
          {
            ...b,
            title: "server peak RSS (VmHWM) after that size",
            xlabel: "message size (log scale)",
            ylabel: "MiB (log scale)",
            xfmt: fmtBytes,
            ylog: true,
            yfmt: (v) => fmtNum(v)
          }
        ],
        notes: [
          "Sizes are sent in ascending order to one server process; ours runs with --size 0 (no limit). aiosmtpd buffers each message in memory.",
          ...missingNotes(sz, names, fmtBytes)
        ]
      })
    )
    written.push("size.svg")
  }
  return written
}

// ------------------------------------------------------------------ README tables

function tables(results) {
  const L = []
  const present = (sec) => SERVER_NAMES.filter((n) => sec.servers[n])
  const table = (sec, xfmt, cell, header) => {
    const names = present(sec)
    const xs = [...new Set(names.flatMap((n) => sec.servers[n].points.map((p) => p.x)))].sort((a, b) => a - b)
    L.push(
      `| ${header} | ${names.map((n) => STYLE[n].label).join(" | ")} |${names.includes("ours") && names.includes("smtp-server") ? " ours ÷ smtp-server |" : ""}`
    )
    L.push(`|${" ---: |".repeat(names.length + 1 + (names.includes("ours") && names.includes("smtp-server") ? 1 : 0))}`)
    for (const x of xs) {
      const get = (n) => sec.servers[n].points.find((p) => p.x === x)
      const row = names.map((n) => cell(get(n)))
      if (names.includes("ours") && names.includes("smtp-server")) {
        const a = cell.value(get("ours"))
        const b = cell.value(get("smtp-server"))
        row.push(a != null && b ? (a / b).toFixed(2) : "–")
      }
      L.push(`| ${xfmt(x)} | ${row.join(" | ")} |`)
    }
  }
  const mk = (key, f) => {
    const c = (p) => (p && !p.error && p[key] != null ? f(p[key]) : p?.error ? "missing" : "–")
    c.value = (p) => (p && !p.error && typeof p[key] === "number" ? p[key] : null)
    return c
  }
  if (results.throughput) {
    const s = results.throughput
    L.push(
      `**Throughput** (msg/s, 4 KiB, persistent sessions; ${day(s.meta?.date)}, ${s.meta?.mode} mode; higher is better)`,
      ""
    )
    table(
      s,
      fmtCount,
      mk("rate", (v) => fmtCount(Math.round(v))),
      "sessions"
    )
    L.push("")
  }
  if (results.memory) {
    const s = results.memory
    L.push(
      `**Memory** (server RSS in MiB while holding N idle connections, and KB per connection; ${day(s.meta?.date)}, ${s.meta?.mode} mode; lower is better)`,
      ""
    )
    table(
      s,
      fmtCount,
      mk("rss_mib", (v) => `${v.toFixed(0)}`),
      "connections: RSS MiB"
    )
    L.push("")
    table(
      s,
      fmtCount,
      mk("kb_per_conn", (v) => v.toFixed(1)),
      "connections: KB/conn"
    )
    L.push("")
  }
  if (results.size) {
    const s = results.size
    L.push(`**Message size** (first body byte → 250; ${day(s.meta?.date)}, ${s.meta?.mode} mode; lower is better)`, "")
    table(s, fmtBytes, mk("seconds", fmtSeconds), "size: time")
    L.push("")
    table(
      s,
      fmtBytes,
      mk("peak_rss_mib", (v) => `${v.toFixed(0)}`),
      "size: peak RSS MiB"
    )
    L.push("")
  }
  return L.join("\n")
}

function updateReadme(results, outDir) {
  const f = path.join(outDir, "README.md")
  if (!fs.existsSync(f)) return false
  const text = fs.readFileSync(f, "utf8")
  const a = "<!-- scaling:tables:begin -->"
  const b = "<!-- scaling:tables:end -->"
  const i = text.indexOf(a)
  const j = text.indexOf(b)
  if (i < 0 || j < i) return false
  const body = `${a}\n<!-- generated by scripts/scaling.mjs from results.json: do not edit by hand -->\n\n${tables(results)}\n${b}`
  fs.writeFileSync(f, text.slice(0, i) + body + text.slice(j + b.length))
  return true
}

// ------------------------------------------------------------------ main

function meta(env, mode) {
  let pkg = {}
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"))
  } catch {}
  let ss = null
  try {
    ss = JSON.parse(fs.readFileSync(path.join(NPM_PREFIX, "node_modules/smtp-server/package.json"), "utf8")).version
  } catch {}
  const dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    mode,
    ours: `${pkg.name}@${pkg.version} ${run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) ?? ""}${dirty ? " (uncommitted changes)" : ""}`.trim(),
    node: process.version,
    "smtp-server": ss,
    aiosmtpd: run([PY, "-c", "import aiosmtpd; print(aiosmtpd.__version__)"]),
    postfix: run(["dpkg-query", "-W", "-f", "${Version}", "postfix"]),
    kernel: os.release(),
    cpus: env.cpus.length,
    cpu_model: os.cpus()[0]?.model,
    cpu_placement:
      env.serverCpu != null
        ? `server on CPU ${env.serverCpu}, load on CPU ${env.loadCpus.join(",")} (taskset)`
        : "not pinned",
    nofile: env.nofile,
    loadavg_at_start: os.loadavg().map((v) => round(v, 2))
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  fs.mkdirSync(opts.out, { recursive: true })
  const resultsFile = path.join(opts.out, "results.json")
  let results = {}
  if (fs.existsSync(resultsFile)) {
    try {
      results = JSON.parse(fs.readFileSync(resultsFile, "utf8"))
    } catch (e) {
      if (opts.renderOnly) die(`cannot read ${resultsFile}: ${e.message}`)
    }
  } else if (opts.renderOnly) die(`${resultsFile} not found: run without --render-only first`)

  if (!opts.renderOnly) {
    const env = new Env()
    if (!env.smtpSource)
      die("smtp-source not found (Debian package postfix; ../shared/bench/run --install-only installs it)")
    const mode = opts.quick ? "quick" : "full"
    const prof = PROFILES[mode]
    const names = []
    const skipped = {}
    for (const n of opts.servers) {
      const why = env.unavailable(n)
      if (why) {
        skipped[n] = why
        log(`scaling: skipping ${n}: ${why}`)
      } else names.push(n)
    }
    if (!names.length) die("no server available")
    const m = meta(env, mode)
    log(
      `scaling: ${mode} mode, ${m.date}, ${m.cpus} CPUs (${m.cpu_placement}), nofile ${env.nofile}, servers ${names.join(", ")}, sections ${opts.only.join(", ")}`
    )
    const t0 = now()
    const fns = { throughput, memory, size: sizes }
    try {
      for (const sec of SECTIONS) {
        if (!opts.only.includes(sec)) continue
        const ts = now()
        const r = await fns[sec](env, prof, names)
        const prev = results[sec]
        // keep the servers not measured this time (marked with their own date)
        const servers = { ...(prev?.servers || {}) }
        for (const [k, v] of Object.entries(servers)) if (!v.date) v.date = prev?.meta?.date
        for (const [k, v] of Object.entries(r.servers)) servers[k] = { ...v, date: m.date }
        results[sec] = {
          meta: { ...m, duration_s: round(now() - ts), loadavg_at_end: os.loadavg().map((v) => round(v, 2)), skipped },
          params: r.params,
          servers
        }
        fs.writeFileSync(resultsFile, JSON.stringify(results, null, 1) + "\n")
        render(results, opts.out)
      }
    } finally {
      cleanupAll()
      if (!env.keepLogs) fs.rmSync(env.logdir, { recursive: true, force: true })
      else log(`scaling: server logs kept in ${env.logdir}`)
    }
    log(`scaling: done in ${Math.round(now() - t0)} s`)
  }
  const written = render(results, opts.out)
  const readme = updateReadme(results, opts.out)
  log(
    `scaling: wrote ${[...(opts.renderOnly ? [] : ["results.json"]), ...written].map((f) => path.join(path.relative(ROOT, opts.out), f)).join(", ")}${readme ? ", README.md tables" : ""}`
  )
  console.log(tables(results))
}

main().catch((e) => {
  console.error(e?.stack || e)
  cleanupAll()
  process.exit(1)
})
