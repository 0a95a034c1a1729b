/**
 * A small SVG line-chart writer: one or two panels side by side, a log-scale x axis, a linear or
 * log y axis, a legend of the servers and notes under it, wrapped to the width. No dependencies.
 */
import { fmtNum, round, styles } from "./Format.ts"
import type { ServerName } from "./Options.ts"

export interface Series {
  readonly name: ServerName
  /** One per x; null where there is no value. */
  readonly values: ReadonlyArray<number | null>
  /** Drawn as a × on the axis: the server failed that point. */
  readonly missing?: ReadonlyArray<boolean>
}

export interface Panel {
  readonly title?: string
  readonly xlabel: string
  readonly ylabel: string
  readonly xs: ReadonlyArray<number>
  readonly xfmt?: (v: number) => string
  readonly ylog?: boolean
  readonly yfmt?: (v: number) => string
  readonly series: ReadonlyArray<Series>
}

export interface Chart {
  readonly title: string
  readonly subtitle: string
  readonly panels: ReadonlyArray<Panel>
  readonly notes: ReadonlyArray<string>
}

interface Scale {
  readonly lo: number
  readonly hi: number
  readonly ticks: ReadonlyArray<number>
}

/** A panel's place and its scales. */
interface Box {
  readonly x0: number
  readonly y0: number
  readonly PW: number
  readonly X: (v: number) => number
  readonly Y: (v: number) => number
}

const PH = 330
const ML = 78
const MR = 24
const MT = 78

const esc = (s: unknown): string =>
  String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const niceLinear = (max: number): Scale => {
  if (!(max > 0)) max = 1
  const raw = max / 5
  const p = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p
  const top = Math.ceil((max * 1.05) / step) * step
  const ticks: Array<number> = []
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(round(v, 10))
  return { lo: 0, hi: top, ticks }
}

const niceLog = (min: number, max: number): Scale => {
  if (!(min > 0)) min = max > 0 ? max / 10 : 1
  if (!(max > 0)) max = min * 10
  const lo = Math.floor(Math.log10(min))
  let hi = Math.ceil(Math.log10(max))
  if (hi === lo) hi++
  const decades = hi - lo
  const mult = decades <= 2 ? [1, 2, 5] : decades <= 4 ? [1, 3] : [1]
  const ticks: Array<number> = []
  for (let e = lo; e <= hi; e++) for (const m of mult) if (m * 10 ** e <= 10 ** hi * 1.0001) ticks.push(m * 10 ** e)
  return { lo: 10 ** lo, hi: 10 ** hi, ticks }
}

const dash = (d: string | undefined): string => (d ? ` stroke-dasharray="${d}"` : "")

// legend entries and notes wrap to the width (about 6.6 and 6 px per character)
const legendRows = (panels: ReadonlyArray<Panel>, W: number): Array<Array<readonly [ServerName, number]>> => {
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))]
  const rows: Array<Array<readonly [ServerName, number]>> = [[]]
  let used = 0
  for (const n of names) {
    const w = 44 + styles[n].label.length * 6.6
    if (used + w > W - ML - 10 && rows.at(-1)!.length) {
      rows.push([])
      used = 0
    }
    rows.at(-1)!.push([n, used])
    used += w
  }
  return rows
}

const wrapNotes = (notes: ReadonlyArray<string>, W: number): Array<string> => {
  const perLine = Math.floor((W - ML - 20) / 6)
  const lines: Array<string> = []
  for (const n of notes) {
    let rest = n
    const indent = n.match(/^ */)![0] + "  "
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
  return lines
}

/** The axes: a grid line and a label per tick, a tick per x. */
const axes = (o: Array<string>, p: Panel, box: Box, sc: Scale): void => {
  const { x0, y0, PW, X, Y } = box
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
}

/** A series' line, broken where a value is missing, its markers, and a × for a failed point. */
const line = (o: Array<string>, p: Panel, s: Series, box: Box): void => {
  const { y0, X, Y } = box
  const st = styles[s.name]
  let seg: Array<readonly [number, number]> = []
  const segs: Array<typeof seg> = []
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
        `<polyline fill="none" stroke="${st.color}" stroke-width="${st.width}"${dash(st.dash)} stroke-linejoin="round" points="${g.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>`
      )
    for (const [a, b] of g)
      o.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="${st.width + 1}" fill="${st.color}"/>`)
  }
  p.xs.forEach((xv, i) => {
    if (s.values[i] === null && s.missing?.[i])
      o.push(
        `<text x="${X(xv).toFixed(1)}" y="${y0 + PH - 4}" text-anchor="middle" font-size="14" font-weight="bold" fill="${st.color}">×</text>`
      )
  })
}

const panel = (o: Array<string>, p: Panel, pi: number, PW: number): void => {
  const x0 = 5 + pi * (ML + PW + MR) + ML
  const y0 = MT
  const lx = Math.log10(Math.min(...p.xs) / 1.4)
  const hx = Math.log10(Math.max(...p.xs) * 1.4)
  const X = (v: number) => x0 + ((Math.log10(v) - lx) / (hx - lx)) * PW
  const ys = p.series.flatMap((s) => s.values).filter((v): v is number => typeof v === "number" && v > 0)
  const sc = p.ylog ? niceLog(Math.min(...ys), Math.max(...ys)) : niceLinear(ys.length ? Math.max(...ys) : 1)
  const Y = p.ylog
    ? (v: number) => y0 + PH - ((Math.log10(v) - Math.log10(sc.lo)) / (Math.log10(sc.hi) - Math.log10(sc.lo))) * PH
    : (v: number) => y0 + PH - ((v - sc.lo) / (sc.hi - sc.lo)) * PH
  if (p.title)
    o.push(
      `<text x="${x0 + PW / 2}" y="${y0 - 10}" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`
    )
  o.push(`<rect x="${x0}" y="${y0}" width="${PW}" height="${PH}" fill="#fafafa" stroke="#999"/>`)
  const box = { x0, y0, PW, X, Y }
  axes(o, p, box, sc)
  for (const s of p.series) line(o, p, s, box)
}

const legend = (o: Array<string>, rows: ReturnType<typeof legendRows>, ly: number): void =>
  rows.forEach((row, r) => {
    for (const [n, dx] of row) {
      const st = styles[n]
      const lx = 5 + ML + dx
      const y = ly + r * 22
      o.push(
        `<line x1="${lx}" y1="${y}" x2="${lx + 28}" y2="${y}" stroke="${st.color}" stroke-width="${st.width}"${dash(st.dash)}/>`
      )
      o.push(`<circle cx="${lx + 14}" cy="${y}" r="${st.width + 1}" fill="${st.color}"/>`)
      o.push(`<text x="${lx + 34}" y="${y + 4}">${esc(st.label)}</text>`)
    }
  })

/** The chart as an SVG document. */
export const svg = ({ notes, panels, subtitle, title }: Chart): string => {
  const PW = panels.length === 1 ? 860 : 520
  const W = panels.length * (ML + PW + MR) + 10
  const rows = legendRows(panels, W)
  const lines = wrapNotes(notes, W)
  const H = MT + PH + 58 + rows.length * 22 + lines.length * 16 + 18
  const o: Array<string> = []
  o.push(`<?xml version="1.0" encoding="UTF-8"?>`)
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`
  )
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`)
  o.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${esc(title)}</text>`)
  o.push(`<text x="${W / 2}" y="46" text-anchor="middle" font-size="12" fill="#444">${esc(subtitle)}</text>`)
  panels.forEach((p, pi) => panel(o, p, pi, PW))
  const ly = MT + PH + 62
  legend(o, rows, ly)
  const ny = ly + (rows.length - 1) * 22 + 24
  lines.forEach((n, i) =>
    o.push(`<text x="${5 + ML}" y="${ny + i * 16}" font-size="11" fill="#555" xml:space="preserve">${esc(n)}</text>`)
  )
  o.push(`</svg>`)
  return o.join("\n") + "\n"
}
