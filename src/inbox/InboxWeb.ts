/**
 * The inbox's web side besides the JSON API: the live events (Mailpit's websocket at
 * `/api/events`), a message's HTML and text at `/view/{ID}.html` and `.txt` (as Mailpit's test
 * plugins fetch them), and the web inbox's page and assets. Untrusted HTML is only ever served
 * under a `sandbox` policy; the inbox's own pages under a strict Content-Security-Policy.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Stream from "effect/Stream"
import * as Inbox from "./Inbox.js"
import { error } from "./ApiAnswers.js"

/**
 * The policy of the inbox's own pages: its scripts only, no plugins, no framing by others.
 * Images may come from anywhere because the message preview (a sandboxed frame without
 * scripts, which inherits this policy) shows remote images once the user asks; its own policy
 * blocks them until then.
 *
 * @since 0.2.0
 * @category constants
 */
export const pagePolicy =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:; " +
  "frame-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// a message's own HTML, served from our origin: no scripts, an origin of its own, no forms
const messagePolicy =
  "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"

const secured = (policy: string) => ({
  "content-security-policy": policy,
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff"
})

/**
 * The web inbox's files, read once at start-up: `index.html`, `inbox.js`, `inbox.css`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Assets {
  readonly index: string
  readonly files: ReadonlyMap<string, { readonly body: Uint8Array; readonly contentType: string }>
}

// the events of the inbox as websocket frames, a `stats` first; ends when the client goes
const events = (version: string) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const inbox = yield* Inbox.Inbox
    const socket = yield* request.upgrade
    const writer = yield* socket.writer
    const reader = yield* socket.reader
    const stats = yield* inbox.stats
    yield* writer.write(
      JSON.stringify({ Type: "stats", Data: { Total: stats.total, Unread: stats.unread, Version: version } })
    )
    const sending = Stream.runForEach(inbox.events, (event) => writer.write(JSON.stringify(event)))
    // what the client sends is read only to notice that it has gone
    const listening = Effect.forever(reader.pull)
    yield* Effect.raceFirst(sending, listening).pipe(Effect.ignore)
    return HttpServerResponse.empty()
  }).pipe(
    Effect.scoped,
    Effect.catchCause(() => Effect.succeed(error(400, "a websocket upgrade was expected")))
  )

// /view/{ID}.html, /view/{ID}.txt, or the page (the web inbox shows the message)
const view = (assets: Assets) =>
  Effect.gen(function* () {
    const name = (yield* HttpRouter.params)["id"] ?? ""
    const match = /^(.+)\.(html|txt)$/.exec(name)
    if (match === null) return page(assets)
    const inbox = yield* Inbox.Inbox
    const stored = yield* inbox.get(match[1]!)
    if (stored === undefined) return error(404, "Message not found")
    if (!stored.read) yield* inbox.setRead({ _tag: "Ids", ids: [stored.id] }, true)
    if (match[2] === "txt") {
      return HttpServerResponse.text(stored.parsed.text, {
        contentType: "text/plain; charset=utf-8",
        headers: secured(messagePolicy)
      })
    }
    if (stored.parsed.html === "") return error(404, "This message does not contain a HTML part")
    return HttpServerResponse.text(stored.parsed.html, {
      contentType: "text/html; charset=utf-8",
      headers: secured(messagePolicy)
    })
  }).pipe(Effect.catchTag("InboxError", () => Effect.succeed(error(500, "the inbox cannot answer now"))))

const page = (assets: Assets) =>
  HttpServerResponse.text(assets.index, { contentType: "text/html; charset=utf-8", headers: secured(pagePolicy) })

const asset = (assets: Assets, name: string) => {
  const file = assets.files.get(name)
  return file === undefined
    ? error(404, "no such file")
    : HttpServerResponse.uint8Array(file.body, {
        contentType: file.contentType,
        headers: { ...secured(pagePolicy), "cache-control": "no-cache" }
      })
}

/**
 * The routes of the events, the views and the page; `version` goes in the events' `stats`.
 *
 * @since 0.2.0
 * @category layers
 */
export const routes = (assets: Assets, version: string) =>
  HttpRouter.addAll([
    HttpRouter.route("GET", "/api/events", events(version)),
    HttpRouter.route("GET", "/view/:id", view(assets)),
    HttpRouter.route("GET", "/", page(assets)),
    HttpRouter.route("GET", "/search", page(assets)),
    HttpRouter.route("GET", "/inbox.js", asset(assets, "inbox.js")),
    HttpRouter.route("GET", "/inbox.css", asset(assets, "inbox.css")),
    HttpRouter.route("GET", "/livez", HttpServerResponse.text("ok")),
    HttpRouter.route("GET", "/readyz", HttpServerResponse.text("ok"))
  ])
