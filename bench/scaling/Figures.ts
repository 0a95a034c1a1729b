/**
 * The three pictures of docs/performance/ (throughput.svg, memory.svg, size.svg), drawn from
 * results.json.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Chart from "./Chart.ts"
import { day, fmtBytes, fmtCount, fmtNum, fmtSeconds, styles } from "./Format.ts"
import { serverNames, type ServerName } from "./Options.ts"
import type { MemoryPoint, Point, Results, Section, SizePoint, ThroughputPoint } from "./Results.ts"

/** Every x any server measured, and a series per server: the value, or null and why. */
const seriesOf = <P extends Point>(
  section: Section<P>,
  key: keyof P,
  names: ReadonlyArray<ServerName>
): { xs: Array<number>; series: Array<Chart.Series> } => {
  const xsAll = new Set<number>()
  for (const n of names) for (const p of section.servers[n]?.points || []) xsAll.add(p.x)
  const xs = [...xsAll].sort((a, b) => a - b)
  const series = names.flatMap((n) => {
    const pts = section.servers[n]?.points
    if (!pts) return []
    const values = xs.map((x) => {
      const p = pts.find((q) => q.x === x)
      const v = p?.[key]
      return p && !p.error && typeof v === "number" ? v : null
    })
    const missing = xs.map((x) => {
      const p = pts.find((q) => q.x === x)
      return Boolean(p && p.error)
    })
    return [{ name: n, values, missing }]
  })
  return { xs, series }
}

const missingNotes = <P extends Point>(
  section: Section<P>,
  names: ReadonlyArray<ServerName>,
  xfmt: (x: number) => string
): Array<string> => {
  const out: Array<string> = []
  for (const n of names) {
    const bad = (section.servers[n]?.points || []).filter((p) => p.error)
    if (bad.length)
      out.push(`${styles[n].label}: missing at ${bad.map((p) => `${xfmt(p.x)} (${p.error!.slice(0, 60)})`).join("; ")}`)
  }
  return out.length ? ["× on the axis = point missing (the server failed it):", ...out.map((s) => "  " + s)] : []
}

const names = serverNames

const throughput = (tp: Section<ThroughputPoint>): string => {
  const { series, xs } = seriesOf(tp, "rate", names)
  return Chart.svg({
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
}

const memory = (mem: Section<MemoryPoint>): string => {
  const logY = { xlabel: "idle connections N (log scale)", xfmt: fmtCount, ylog: true, yfmt: (v: number) => fmtNum(v) }
  const largest = [
    ...new Set(names.flatMap((n) => (mem.servers[n]?.points || []).filter((p) => p.note).map((p) => p.note!)))
  ]
  return Chart.svg({
    title: `Memory against idle connections (${day(mem.meta?.date)}, 2 cores, loopback)`,
    subtitle: `Connections that read the greeting and sent EHLO, held open; a freshly started server per point; ${mem.meta?.mode} mode. Lower is better.`,
    panels: [
      {
        ...seriesOf(mem, "rss_mib", names),
        ...logY,
        title: "server RSS while holding N connections",
        ylabel: "RSS, MiB (log scale)"
      },
      {
        ...seriesOf(mem, "kb_per_conn", names),
        ...logY,
        title: "RSS growth per connection",
        ylabel: "KB per connection (log scale)"
      }
    ],
    notes: [
      "RSS = VmRSS of the server process 1 s after the last connection opened; KB/conn = (RSS held − RSS before) / N. smtp-sink keeps 2 × 128 KiB buffers per connection.",
      ...largest.map((t) => `Largest point: ${t} (the per-process hard limit on this machine cannot be raised).`),
      ...missingNotes(mem, names, fmtCount)
    ]
  })
}

const size = (sz: Section<SizePoint>): string => {
  const logY = { xlabel: "message size (log scale)", xfmt: fmtBytes, ylog: true }
  return Chart.svg({
    title: `Time to accept one message against its size (${day(sz.meta?.date)}, 2 cores, loopback)`,
    subtitle: `One session, body streamed by the client; time from the first body byte to the 250 reply, median of the warm messages; ${sz.meta?.mode} mode. Lower is better.`,
    panels: [
      {
        ...seriesOf(sz, "seconds", names),
        ...logY,
        title: "first body byte → 250",
        ylabel: "seconds (log scale)",
        yfmt: fmtSeconds
      },
      {
        ...seriesOf(sz, "peak_rss_mib", names),
        ...logY,
        title: "server peak RSS (VmHWM) after that size",
        ylabel: "MiB (log scale)",
        yfmt: (v: number) => fmtNum(v)
      }
    ],
    notes: [
      "Sizes are sent in ascending order to one server process; ours runs with --size 0 (no limit). aiosmtpd buffers each message in memory.",
      ...missingNotes(sz, names, fmtBytes)
    ]
  })
}

/** Writes the SVG of every section present; the names of the files written. */
export const render = (results: Results, outDir: string): Array<string> => {
  const charts: Array<readonly [string, string | undefined]> = [
    ["throughput.svg", results.throughput && throughput(results.throughput)],
    ["memory.svg", results.memory && memory(results.memory)],
    ["size.svg", results.size && size(results.size)]
  ]
  const written: Array<string> = []
  for (const [file, svg] of charts) {
    if (svg === undefined) continue
    fs.writeFileSync(path.join(outDir, file), svg)
    written.push(file)
  }
  return written
}
