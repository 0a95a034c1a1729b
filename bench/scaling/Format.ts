/**
 * How figures are shown: rounding, medians, number formats for axes, logs and tables, and each
 * server's label and line style.
 */
import { KiB, MiB, type ServerName } from "./Options.ts"

export interface Style {
  readonly label: string
  readonly color: string
  readonly width: number
  readonly dash?: string
}

export const styles: Readonly<Record<ServerName, Style>> = {
  ours: { label: "effect-smtpd (ours)", color: "#d62728", width: 3 },
  "smtp-server": { label: "smtp-server (nodemailer)", color: "#1f77b4", width: 2 },
  aiosmtpd: { label: "aiosmtpd (Python)", color: "#2ca02c", width: 2 },
  "smtp-sink": { label: "Postfix smtp-sink (C, limit)", color: "#7f7f7f", width: 2, dash: "6 4" }
}

export function round(x: number, d?: number): number
export function round(x: number | null | undefined, d?: number): number | null
export function round(x: number | null | undefined, d = 1): number | null {
  return x == null ? null : Math.round(x * 10 ** d) / 10 ** d
}

/** The median of the finite numbers among `xs`, or null if there is none. */
export const median = (xs: ReadonlyArray<number | null | undefined>): number | null => {
  const v = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2
}

const thousands = (s: string): string => s.replace(/\B(?=(\d{3})+(?!\d))/g, ",")

export const fmtNum = (v: number): string => {
  if (v === 0) return "0"
  const a = Math.abs(v)
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`
  if (a >= 1) return thousands(`${+v.toPrecision(4)}`)
  return `${+v.toPrecision(2)}`
}

export const fmtCount = (v: number): string => thousands(String(v))

export const fmtBytes = (b: number): string => {
  if (b >= MiB) return `${+(b / MiB).toPrecision(3)} MiB`
  if (b >= KiB) return `${+(b / KiB).toPrecision(3)} KiB`
  return `${b} B`
}

export const fmtSeconds = (s: number | null | undefined): string => {
  if (s == null) return "-"
  if (s < 1e-3) return `${+(s * 1e6).toPrecision(2)} µs`
  if (s < 1) return `${+(s * 1e3).toPrecision(3)} ms`
  return `${+s.toPrecision(3)} s`
}

/** The day of an ISO date, for titles. */
export const day = (iso: string | undefined): string => (iso || "").slice(0, 10)
