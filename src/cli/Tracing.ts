/**
 * Tracing for the command: spans sent over OTLP (HTTP, JSON) when `--otlp URL` or the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) says where, with
 * Effect's own OTLP exporter (`effect/observability`: no OpenTelemetry SDK to load), and
 * `OTEL_SDK_DISABLED=true` turning it off. Without an endpoint nothing is traced, and no span is
 * made.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { variable } from "./Environment.js"

// a base URL's traces path, as the OpenTelemetry exporters add it
const tracesOf = (base: string) => `${base.replace(/\/+$/, "")}/v1/traces`

/**
 * Where the spans go: `--otlp` (a base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`), else the
 * environment's endpoint for traces; `undefined`: not traced.
 *
 * @since 0.2.0
 * @category constructors
 */
export const endpoint = (otlp: Option.Option<string>): Effect.Effect<string | undefined> =>
  Effect.gen(function* () {
    if (Option.isSome(otlp)) return tracesOf(otlp.value)
    const disabled = yield* variable("OTEL_SDK_DISABLED")
    if (Option.isSome(disabled) && disabled.value.trim().toLowerCase() === "true") return undefined
    const traces = yield* variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if (Option.isSome(traces) && traces.value.trim() !== "") return traces.value.trim()
    const base = yield* variable("OTEL_EXPORTER_OTLP_ENDPOINT")
    return Option.isSome(base) && base.value.trim() !== "" ? tracesOf(base.value.trim()) : undefined
  })

/**
 * The OTLP tracer for `url`, as the server's `Tracer`, its exporter loaded only now: a command
 * that does not trace never loads it (its modules cost ~2 MiB of memory at start-up).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (url: string, version: string) =>
  Layer.unwrap(
    Effect.map(
      Effect.promise(() => import("./TracingExporter.js")),
      (exporter) => exporter.layer(url, version)
    )
  )
