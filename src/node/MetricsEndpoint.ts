/**
 * `GET /metrics` over HTTP: the metrics in Prometheus's text format, for a scraper. The
 * `effect-smtpd` command serves it with `--metrics host:port`; with `--workers` the primary
 * serves the sum of its workers' metrics (`Cluster.workersMetrics`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { Endpoint } from "../handler/SessionInfo.js"
import * as MetricsText from "../server/MetricsText.js"
import { ListenError, parseAddress } from "../server/SmtpServer.js"
import * as Listening from "./Listening.js"

/**
 * Serves the samples `collect` gives at each request, on `address` (`host:port`), while the
 * scope is open.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = (
  address: string,
  collect: () => Promise<ReadonlyArray<MetricsText.Sample>>
): Effect.Effect<Endpoint, ListenError, Scope.Scope> => {
  const parsed = parseAddress(address)
  if (parsed === undefined) return Effect.fail(new ListenError({ address, message: "expected host:port" }))
  const server = Http.createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0]
    if ((request.method !== "GET" && request.method !== "HEAD") || path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
      return
    }
    collect().then(
      (samples) =>
        response
          .writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
          .end(request.method === "HEAD" ? undefined : MetricsText.render(samples)),
      () => response.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n")
    )
  })
  return Listening.listen(server, parsed.host, parsed.port)
}
