/**
 * What Linux's /proc says about the servers: their memory, their process groups, and which of a
 * group's processes holds the listening socket (a server may be a wrapper around a child).
 */
import * as fs from "node:fs"

export interface Status {
  readonly VmRSS?: number
  readonly VmHWM?: number
  readonly Threads?: number
}

/** VmRSS, VmHWM (kB) and Threads of a process; empty if it is gone. */
export const status = (pid: number | null): Status => {
  const out: Record<string, number> = {}
  if (pid === null) return out
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      const [k, v] = line.split(":")
      if (k === "VmRSS" || k === "VmHWM" || k === "Threads") out[k] = parseInt(v ?? "", 10)
    }
  } catch {}
  return out
}

const pgrpOf = (pid: number): number | null => {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // the fields after the command name, which may hold spaces and parentheses
    return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[2])
  } catch {
    return null
  }
}

export const groupPids = (pgid: number): Array<number> =>
  fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => pgrpOf(p) === pgid)

const listeningInodes = (port: number): Set<string> => {
  const inodes = new Set<string>()
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = ""
    try {
      text = fs.readFileSync(f, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const p = line.trim().split(/\s+/)
      // state 0A = LISTEN; the local address is hex "ip:port"
      if (p.length > 9 && p[3] === "0A" && parseInt(p[1]!.split(":")[1]!, 16) === port) inodes.add(`socket:[${p[9]}]`)
    }
  }
  return inodes
}

/** The process of group `pgid` that holds the socket listening on `port`. */
export const listenerPid = (port: number, pgid: number): number | null => {
  const inodes = listeningInodes(port)
  for (const pid of groupPids(pgid)) {
    let fds: Array<string> = []
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
