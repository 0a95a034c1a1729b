// The command's spans at an OTLP/HTTP receiver (issue 17, point 6): OTEL_EXPORTER_OTLP_ENDPOINT
// set, one message relayed by -c PureProxy to an upstream; after SIGTERM the receiver holds the
// session, its transaction, the hooks' calls under it and the relay's upstream commands under
// those, as JSON at /v1/traces.
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"
import { ourServer } from "../client/ourServer.js"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"

const { start } = CliProcess.runner(builtCommand())

interface Span {
  readonly name: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

// a receiver of OTLP/HTTP JSON: the spans of every request to /v1/traces
const receiver = Effect.acquireRelease(
  Effect.callback<{ readonly port: number; readonly spans: Array<Span>; readonly server: Http.Server }>((resume) => {
    const spans: Array<Span> = []
    const server = Http.createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        if (request.url === "/v1/traces") {
          const parsed = JSON.parse(body) as {
            resourceSpans: ReadonlyArray<{ scopeSpans: ReadonlyArray<{ spans: ReadonlyArray<Span> }> }>
          }
          for (const resource of parsed.resourceSpans)
            for (const scope of resource.scopeSpans) spans.push(...scope.spans)
        }
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, spans, server }))
    )
  }),
  ({ server }) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
)

it.live("spans of a relayed message reach an OTLP receiver, nested as the work was", () =>
  Effect.gen(function* () {
    const otlp = yield* receiver
    const upstream = yield* ourServer()
    const relay = yield* Effect.promise(() =>
      start(
        ["-c", "PureProxy", "--upstream-tls", "none", "127.0.0.1:0", `127.0.0.1:${upstream.port}`],
        /listening on 127\.0\.0\.1:(\d+)/,
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp.port}` }
      )
    )
    const replies = yield* Effect.promise(() =>
      CliProcess.converse({ port: relay.port }, [
        "EHLO client.test\r\n",
        "MAIL FROM:<a@example.com>\r\n",
        "RCPT TO:<b@example.net>\r\n",
        "DATA\r\n",
        "Subject: traced\r\n\r\nhi\r\n.\r\n",
        "QUIT\r\n"
      ])
    )
    expect(replies[5]).toMatch(/^250 /)
    // SIGTERM: the spans not yet sent go before the command exits
    expect(yield* Effect.promise(() => relay.stop("SIGTERM"))).toBe(0)
    const byId = new Map(otlp.spans.map((span) => [span.spanId, span]))
    const parentOf = (span: Span) => (span.parentSpanId ? byId.get(span.parentSpanId)?.name : undefined)
    const named = (name: string) => otlp.spans.filter((span) => span.name === name)
    expect(named("smtp.session")).toHaveLength(1)
    expect(named("smtp.transaction").map(parentOf)).toEqual(["smtp.session"])
    expect(named("smtp.handler.data").map(parentOf)).toEqual(["smtp.transaction"])
    // the relay opens its upstream transaction at MAIL: connect and MAIL under that hook
    expect(named("smtp.client.connect").map(parentOf)).toEqual(["smtp.handler.mail"])
    expect(named("smtp.client.rcpt").map(parentOf)).toEqual(["smtp.handler.rcpt"])
    expect(named("smtp.client.data").map(parentOf)).toEqual(["smtp.handler.data"])
    const attributes = new Map(named("smtp.transaction")[0]!.attributes?.map((a) => [a.key, Object.values(a.value)[0]]))
    expect(attributes.get("smtp.reply.code")).toBe(250)
    expect(Number(attributes.get("smtp.recipients"))).toBe(1)
  }).pipe(Effect.scoped)
)
