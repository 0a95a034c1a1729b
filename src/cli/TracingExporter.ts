/**
 * The command's OTLP exporter (src/cli/Tracing.ts loads this module only when it traces):
 * Effect's own OTLP tracer, JSON over fetch, spans sent every second and when the command stops.
 *
 * @since 0.2.0
 */
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (url: string, version: string) =>
  OtlpTracer.layer({
    url,
    resource: { serviceName: "effect-smtpd", serviceVersion: version },
    exportInterval: "1 second"
  }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer))
