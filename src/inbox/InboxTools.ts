/**
 * The tools of Mailpit's API beside the messages: the web UI's settings (`/api/v1/webui`), a
 * message's release, its link check and SpamAssassin check, and the chaos triggers. Each is
 * off unless the command turned it on (`--release-to`, `--enable-spamassassin`,
 * `--enable-chaos`), and says so with a 400.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import { bodyOf, error, guarded, idParam, notFound, ok, query } from "./ApiAnswers.js"
import * as Chaos from "./Chaos.js"
import * as Inbox from "./Inbox.js"
import * as LinkCheck from "./LinkCheck.js"
import * as Release from "./Release.js"
import * as SpamCheck from "./SpamCheck.js"

const webui = Effect.gen(function* () {
  const chaos = yield* Chaos.Chaos
  const relay = (yield* Release.Release).settings
  return HttpServerResponse.jsonUnsafe({
    Label: "",
    MessageRelay: {
      Enabled: relay !== undefined,
      SMTPServer: relay?.server ?? "",
      ReturnPath: relay?.returnPath ?? "",
      AllowedRecipients: relay?.allowed ?? "",
      BlockedRecipients: ""
    },
    SpamAssassin: (yield* SpamCheck.SpamCheck).server !== undefined,
    ChaosEnabled: chaos.enabled,
    DuplicatesIgnored: false,
    HideDeleteAllButton: false
  })
})

// GET /api/v1/message/{ID}/link-check?follow=true: each link asked for, on demand
const linkCheck = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const stored = yield* (yield* Inbox.Inbox).get(yield* idParam)
    if (stored === undefined) return notFound
    const follow = query(request).get("follow") === "true"
    return HttpServerResponse.jsonUnsafe(yield* LinkCheck.check(LinkCheck.links(stored.parsed), follow))
  })

// GET /api/v1/message/{ID}/sa-check: the message scored by spamd (its Error says why not)
const spamCheck = Effect.gen(function* () {
  const service = yield* SpamCheck.SpamCheck
  if (service.server === undefined) return error(400, "SpamAssassin is not enabled (--enable-spamassassin)")
  const inbox = yield* Inbox.Inbox
  const stored = yield* inbox.get(yield* idParam)
  const raw = stored === undefined ? undefined : yield* inbox.raw(stored.id)
  if (raw === undefined) return notFound
  return HttpServerResponse.jsonUnsafe(yield* service.check(raw))
})

// POST /api/v1/message/{ID}/release {"To": [...]}: the message sent on, as it is, through the
// release server; its sender the one it came with (or the From address)
const release = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const service = yield* Release.Release
    if (service.settings === undefined) return error(400, "message release is not enabled (--release-to)")
    const inbox = yield* Inbox.Inbox
    const id = yield* idParam
    const stored = yield* inbox.get(id)
    const raw = stored === undefined ? undefined : yield* inbox.raw(stored.id)
    if (stored === undefined || raw === undefined) return notFound
    const body = yield* bodyOf(request)
    const to = body?.["to"]
    if (!Array.isArray(to) || !to.every((address) => typeof address === "string")) {
      return error(400, 'the body must be {"To": ["address", ...]}')
    }
    const mailFrom = stored.envelope?.mailFrom ?? stored.parsed.from?.Address ?? ""
    return yield* service.send(raw, mailFrom, to).pipe(
      Effect.as(ok),
      Effect.catch((refused) => Effect.succeed(error(400, refused.message)))
    )
  })

const chaosOff = error(400, "Chaos is not enabled")

// GET /api/v1/chaos: the triggers; PUT sets them (those not given are turned off)
const chaos = Effect.gen(function* () {
  const service = yield* Chaos.Chaos
  return service.enabled ? HttpServerResponse.jsonUnsafe(yield* service.triggers) : chaosOff
})

const setChaos = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const service = yield* Chaos.Chaos
    if (!service.enabled) return chaosOff
    const body = yield* bodyOf(request)
    if (body === undefined) return error(400, "the body must be a JSON object of triggers")
    const parsed = Chaos.parse(body)
    if (Result.isFailure(parsed)) return error(400, parsed.failure)
    return HttpServerResponse.jsonUnsafe(yield* service.set(parsed.success))
  })

/**
 * The tools' routes, for `HttpRouter.serve` (with the `Inbox`, `Chaos`, `Release` and
 * `SpamCheck` in the context, and an `HttpClient` for the link check).
 *
 * @since 0.2.0
 * @category layers
 */
export const routes = HttpRouter.addAll([
  HttpRouter.route("GET", "/api/v1/webui", webui),
  HttpRouter.route("POST", "/api/v1/message/:id/release", (request) => guarded(release(request))),
  HttpRouter.route("GET", "/api/v1/message/:id/link-check", (request) => guarded(linkCheck(request))),
  HttpRouter.route("GET", "/api/v1/message/:id/sa-check", guarded(spamCheck)),
  HttpRouter.route("GET", "/api/v1/chaos", chaos),
  HttpRouter.route("PUT", "/api/v1/chaos", (request) => guarded(setChaos(request)))
])
