/**
 * The inbox on Node: `layer` keeps it in SQLite (`@effect/sql-sqlite-node`, in memory unless a
 * file is given) with mailparser as its MIME parser; `web` serves Mailpit's API v1, the live
 * events and the web inbox over HTTP with Effect's HTTP server.
 *
 * ```ts
 * const Captured = NodeSmtpServer.layer({ listen: ["127.0.0.1:8025"] }).pipe(
 *   Layer.provide(InboxHandler.layer),
 *   Layer.provideMerge(NodeInbox.web({ listen: "127.0.0.1:8026" })),
 *   Layer.provideMerge(NodeInbox.layer())
 * )
 * ```
 *
 * @since 0.2.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as NodeSmtpClient from "./NodeSmtpClient.js"
import * as NodeSpamAssassin from "./NodeSpamAssassin.js"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerError from "effect/http/HttpServerError"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as ErrorText from "../internal/ErrorText.js"
import * as Chaos from "../inbox/Chaos.js"
import * as Inbox from "../inbox/Inbox.js"
import * as Release from "../inbox/Release.js"
import * as SpamCheck from "../inbox/SpamCheck.js"
import * as ApiAnswers from "../inbox/ApiAnswers.js"
import * as InboxApi from "../inbox/InboxApi.js"
import * as InboxTools from "../inbox/InboxTools.js"
import * as InboxWeb from "../inbox/InboxWeb.js"
import * as SqlInbox from "../inbox/SqlInbox.js"
import * as NodeMimeParser from "./NodeMimeParser.js"

/**
 * The inbox could not be opened or served: `message` says why, on one line.
 *
 * @since 0.2.0
 * @category errors
 */
export class InboxOpenError extends Data.TaggedError("InboxOpenError")<{ readonly message: string }> {}

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** A SQLite file to keep the messages in (default: in memory, gone at exit). */
  readonly file?: string | undefined
  /** The most messages kept, the oldest deleted first (default 500). */
  readonly max?: number | undefined
  /** The version that `/api/v1/info` and the `stats` events report (default none). */
  readonly version?: string | undefined
  /** Mailpit's chaos triggers may be set (`--enable-chaos`; default off). */
  readonly chaos?: boolean | undefined
  /** Where messages are released to (`--release-to`; default: releasing is off). */
  readonly release?: Release.Options | undefined
  /** The SpamAssassin daemon that scores messages on demand (`--enable-spamassassin`; default off). */
  readonly spamAssassin?: { readonly host: string; readonly port: number } | undefined
}

/**
 * The inbox, its chaos triggers (`Chaos`, enabled or not), its release and its SpamAssassin
 * check (each on or off).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Inbox.Inbox | Chaos.Chaos | Release.Release | SpamCheck.SpamCheck, InboxOpenError> =>
  SqlInbox.layer({ parse: NodeMimeParser.parse, max: options.max, version: options.version }).pipe(
    Layer.provide(SqliteClient.layer({ filename: options.file ?? ":memory:" })),
    Layer.catchCause((cause) =>
      Layer.effect(
        Inbox.Inbox,
        Effect.fail(new InboxOpenError({ message: `cannot open the inbox: ${ErrorText.oneLine(cause)}` }))
      )
    ),
    Layer.merge(Chaos.layer(options.chaos ?? false)),
    Layer.merge(
      options.release === undefined
        ? Release.off
        : Release.layer(options.release).pipe(Layer.provide(NodeSmtpClient.layer))
    ),
    Layer.merge(
      options.spamAssassin === undefined
        ? SpamCheck.off
        : NodeSpamAssassin.layer(options.spamAssassin.host, options.spamAssassin.port)
    )
  )

const here = Path.dirname(fileURLToPath(import.meta.url))

const types: Record<string, string> = {
  "inbox.js": "text/javascript; charset=utf-8",
  "inbox.css": "text/css; charset=utf-8"
}

// dist/inbox-ui beside the bundle (dist/effect-smtpd.js) or above the module (dist/node/)
const assetsDir = (): string | undefined =>
  [Path.join(here, "inbox-ui"), Path.join(here, "../inbox-ui"), Path.join(here, "../../dist/inbox-ui")].find((dir) =>
    Fs.existsSync(Path.join(dir, "index.html"))
  )

// a path no route takes (one whose percent-encoding is broken, say): 404 with {"Error"} too
const isRouteNotFound = (error: unknown): boolean =>
  HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound"
const notFound = HttpRouter.middleware(
  <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.catchIf(effect, isRouteNotFound, () => Effect.succeed(ApiAnswers.error(404, "no such path"))),
  { global: true }
)

const missingUi =
  "<!doctype html><title>Inbox</title><p>The web inbox was not built (npm run build); the API is at /api/v1/messages.</p>"

/**
 * The web inbox's files, read once (a page saying it was not built if they are missing).
 *
 * @since 0.2.0
 * @category constructors
 */
export const assets = (): InboxWeb.Assets => {
  const dir = assetsDir()
  if (dir === undefined) return { index: missingUi, files: new Map() }
  const files = new Map(
    Object.entries(types).flatMap(([name, contentType]) => {
      const file = Path.join(dir, name)
      return Fs.existsSync(file) ? [[name, { body: new Uint8Array(Fs.readFileSync(file)), contentType }] as const] : []
    })
  )
  return { index: Fs.readFileSync(Path.join(dir, "index.html"), "utf8"), files }
}

/**
 * `host:port`, `[v6]:port` or `:port` (all addresses), for `web`.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseListen = (text: string): { readonly host: string | undefined; readonly port: number } | undefined => {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim())
  if (match === null) return undefined
  const port = Number(match[3])
  if (port > 65535) return undefined
  const host = match[1] ?? match[2]
  return { host: host === "" ? undefined : host, port }
}

/**
 * The API, the events and the web inbox on `listen` (default `localhost:8026`); `onListening`
 * gets the address bound (port 0 picks a free one).
 *
 * @since 0.2.0
 * @category layers
 */
export const web = (options: {
  readonly listen?: string | undefined
  readonly database?: string | undefined
  /** As the inbox's own (`layer`). */
  readonly version?: string | undefined
  readonly onListening?: ((url: string) => Effect.Effect<void>) | undefined
}): Layer.Layer<never, InboxOpenError, Inbox.Inbox | Chaos.Chaos | Release.Release | SpamCheck.SpamCheck> => {
  const address = parseListen(options.listen ?? "localhost:8026")
  if (address === undefined)
    return Layer.effectDiscard(Effect.fail(new InboxOpenError({ message: `--web: not host:port: ${options.listen}` })))
  const announce = Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const bound = server.address
      if (bound._tag !== "UnixPathAddress" && options.onListening !== undefined) {
        yield* options.onListening(`http://${NetAddress.formatInet(bound)}`)
      }
    })
  )
  const app = Layer.mergeAll(
    InboxApi.routes({ version: options.version ?? "", database: options.database ?? ":memory:" }),
    InboxTools.routes,
    InboxWeb.routes(assets(), options.version ?? "")
  )
  return HttpRouter.serve(Layer.merge(app, notFound), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.merge(announce),
    Layer.provide(NodeHttpServer.layer(() => Http.createServer(), { port: address.port, host: address.host })),
    // the link check's requests
    Layer.provide(FetchHttpClient.layer),
    Layer.catchCause((cause) =>
      Layer.effectDiscard(
        Effect.fail(
          new InboxOpenError({
            message: `cannot serve the inbox on ${options.listen ?? "localhost:8026"}: ${ErrorText.oneLine(cause)}`
          })
        )
      )
    )
  )
}
