/**
 * The process's metrics as plain samples, summed over processes, and written in Prometheus's
 * text exposition format. Samples are plain data because they cross process boundaries: the
 * workers of `--workers` send theirs to the primary, which serves the sum.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/**
 * One metric with one set of labels: a counter or a gauge with its value, or a histogram with
 * its cumulative bucket counts (upper bound, count), its count and its sum.
 *
 * @since 0.1.0
 * @category models
 */
export type Sample =
  | {
      readonly kind: "counter" | "gauge"
      readonly name: string
      readonly help: string | undefined
      readonly labels: ReadonlyArray<readonly [string, string]>
      readonly value: number
    }
  | {
      readonly kind: "histogram"
      readonly name: string
      readonly help: string | undefined
      readonly labels: ReadonlyArray<readonly [string, string]>
      readonly buckets: ReadonlyArray<readonly [number, number]>
      readonly count: number
      readonly sum: number
    }

const toSample = (metric: Metric.Metric.Snapshot): Array<Sample> => {
  const name = metric.id
  const help = metric.description
  const labels = Object.entries(metric.attributes ?? {}).map(([key, value]) => [key, String(value)] as const)
  switch (metric.type) {
    case "Counter":
      return [{ kind: "counter", name, help, labels, value: Number(metric.state.count) }]
    case "Gauge":
      return [{ kind: "gauge", name, help, labels, value: Number(metric.state.value) }]
    case "Histogram": {
      const { buckets, count, sum } = metric.state
      return [{ kind: "histogram", name, help, labels, buckets, count, sum }]
    }
    default:
      // frequencies and summaries have no counterpart here (the server defines none)
      return []
  }
}

/**
 * Every metric of this process (Effect's global registry).
 *
 * @since 0.1.0
 * @category constructors
 */
export const snapshot: Effect.Effect<ReadonlyArray<Sample>> = Effect.map(Metric.snapshot, (pairs) =>
  pairs.flatMap(toSample)
)

/**
 * Several processes' samples as one process's: values, bucket counts, counts and sums added up
 * per metric and labels.
 *
 * @since 0.1.0
 * @category combinators
 */
export const merge = (snapshots: ReadonlyArray<ReadonlyArray<Sample>>): ReadonlyArray<Sample> => {
  const merged = new Map<string, Sample>()
  for (const samples of snapshots) {
    for (const sample of samples) {
      const key = JSON.stringify([sample.kind, sample.name, sample.labels])
      const seen = merged.get(key)
      if (seen === undefined) merged.set(key, sample)
      else if (seen.kind === "histogram" && sample.kind === "histogram") {
        merged.set(key, {
          ...seen,
          buckets: seen.buckets.map(([le, count], i) => [le, count + (sample.buckets[i]?.[1] ?? 0)] as const),
          count: seen.count + sample.count,
          sum: seen.sum + sample.sum
        })
      } else if (seen.kind !== "histogram" && sample.kind !== "histogram") {
        merged.set(key, { ...seen, value: seen.value + sample.value })
      }
    }
  }
  return [...merged.values()]
}

/**
 * Samples as they arrive from another process (sent as JSON): an infinite bucket bound (the
 * last bucket's, `+Inf`) or a sum that was not finite arrives as `null`, and is made a number
 * again here.
 *
 * @since 0.2.0
 * @category encoding
 */
export const revive = (samples: ReadonlyArray<Sample>): ReadonlyArray<Sample> =>
  samples.map((sample) =>
    sample.kind === "histogram"
      ? {
          ...sample,
          buckets: sample.buckets.map(([le, count]) => [le ?? Infinity, count] as const),
          sum: sample.sum ?? NaN
        }
      : { ...sample, value: sample.value ?? NaN }
  )

/**
 * The counters and histograms of `samples` (what only ever grows): a process's last reading of
 * them stays in the sum once it has gone, so that the sum never goes back.
 *
 * @since 0.2.0
 * @category combinators
 */
export const cumulative = (samples: ReadonlyArray<Sample>): ReadonlyArray<Sample> =>
  samples.filter((sample) => sample.kind !== "gauge")

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const number = (value: number) =>
  value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : Number.isNaN(value) ? "NaN" : String(value)
const labelText = (labels: ReadonlyArray<readonly [string, string]>) =>
  labels.length === 0 ? "" : `{${labels.map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(",")}}`

/**
 * The samples in Prometheus's text format (version 0.0.4), one family per metric name.
 *
 * @since 0.1.0
 * @category encoding
 */
export const render = (samples: ReadonlyArray<Sample>): string => {
  const families = new Map<string, Array<Sample>>()
  for (const sample of samples) {
    const family = families.get(sample.name)
    if (family === undefined) families.set(sample.name, [sample])
    else family.push(sample)
  }
  const lines: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!
    const first = family[0]!
    // every family with its HELP line (Prometheus's linter wants one): the name, when the
    // metric has no description
    lines.push(`# HELP ${name} ${escapeHelp(first.help ?? name)}`)
    lines.push(`# TYPE ${name} ${first.kind}`)
    for (const sample of family) {
      if (sample.kind !== "histogram") {
        lines.push(`${name}${labelText(sample.labels)} ${number(sample.value)}`)
        continue
      }
      for (const [le, count] of sample.buckets) {
        lines.push(`${name}_bucket${labelText([...sample.labels, ["le", number(le)]])} ${count}`)
      }
      lines.push(`${name}_sum${labelText(sample.labels)} ${number(sample.sum)}`)
      lines.push(`${name}_count${labelText(sample.labels)} ${sample.count}`)
    }
  }
  return lines.map((line) => `${line}\n`).join("")
}
