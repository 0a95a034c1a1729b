import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import * as MetricsText from "../../src/server/MetricsText.js"

const counter = (name: string, value: number, labels: ReadonlyArray<readonly [string, string]> = []) =>
  ({ kind: "counter", name, help: undefined, labels, value }) as const

const histogram = (buckets: ReadonlyArray<readonly [number, number]>, count: number, sum: number) =>
  ({ kind: "histogram", name: "size_bytes", help: "sizes", labels: [], buckets, count, sum }) as const

describe("MetricsText", () => {
  it("writes counters, gauges and histograms in Prometheus's text format, names sorted", () => {
    const text = MetricsText.render([
      { kind: "gauge", name: "b_active", help: "open now", labels: [], value: 3 },
      counter("a_total", 7, [["class", 'say "hi"\\\n']]),
      histogram(
        [
          [1024, 1],
          [4096, 2],
          [Infinity, 3]
        ],
        3,
        9000
      )
    ])
    expect(text).toBe(
      [
        // a metric without a description has its name as HELP (promtool wants HELP on every family)
        "# HELP a_total a_total",
        "# TYPE a_total counter",
        'a_total{class="say \\"hi\\"\\\\\\n"} 7',
        "# HELP b_active open now",
        "# TYPE b_active gauge",
        "b_active 3",
        "# HELP size_bytes sizes",
        "# TYPE size_bytes histogram",
        'size_bytes_bucket{le="1024"} 1',
        'size_bytes_bucket{le="4096"} 2',
        'size_bytes_bucket{le="+Inf"} 3',
        "size_bytes_sum 9000",
        "size_bytes_count 3",
        ""
      ].join("\n")
    )
  })

  it("sums several processes' samples per metric and labels", () => {
    const merged = MetricsText.merge([
      [
        counter("a_total", 2),
        counter("a_total", 1, [["k", "v"]]),
        histogram(
          [
            [10, 1],
            [Infinity, 2]
          ],
          2,
          15
        )
      ],
      [
        counter("a_total", 5),
        histogram(
          [
            [10, 0],
            [Infinity, 1]
          ],
          1,
          20
        )
      ],
      []
    ])
    expect(merged).toEqual([
      counter("a_total", 7),
      counter("a_total", 1, [["k", "v"]]),
      histogram(
        [
          [10, 1],
          [Infinity, 3]
        ],
        3,
        35
      )
    ])
  })

  it.effect("reads this process's metrics from Effect's registry", () =>
    Effect.gen(function* () {
      const metric = Metric.counter("metrics_text_test_total", { description: "for the test", incremental: true })
      yield* Metric.update(metric, 1)
      yield* Metric.update(metric, 2)
      const samples = yield* MetricsText.snapshot
      expect(samples.filter((sample) => sample.name === "metrics_text_test_total")).toEqual([
        { kind: "counter", name: "metrics_text_test_total", help: "for the test", labels: [], value: 3 }
      ])
    })
  )

  it("revives samples that crossed a JSON channel: null bounds and sums are numbers again", () => {
    const sent = JSON.parse(
      JSON.stringify([
        {
          kind: "histogram",
          name: "h",
          help: undefined,
          labels: [],
          buckets: [
            [1, 1],
            [Infinity, 2]
          ],
          count: 2,
          sum: NaN
        },
        { kind: "gauge", name: "g", help: "g", labels: [], value: 1 }
      ])
    ) as ReadonlyArray<MetricsText.Sample>
    const revived = MetricsText.revive(sent)
    const histogram = revived[0]
    expect(histogram?.kind === "histogram" && histogram.buckets.at(-1)).toEqual([Infinity, 2])
    expect(histogram?.kind === "histogram" && Number.isNaN(histogram.sum)).toBe(true)
    expect(MetricsText.render(revived)).toContain('h_bucket{le="+Inf"} 2')
    expect(MetricsText.cumulative(revived).map((sample) => sample.kind)).toEqual(["histogram"])
  })
})
