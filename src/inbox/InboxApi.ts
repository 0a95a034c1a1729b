/**
 * Mailpit's HTTP API v1 over the `Inbox`, on Effect's HTTP router: the message list and search
 * with paging, a message, its headers, raw source and parts, read status, deletion, server
 * information, tags, and sending a message through the API (the tools beside them:
 * `InboxTools`). Field names and status codes as Mailpit publishes them, so that its client
 * libraries and test plugins work unchanged; errors are `{"Error": "…"}` with a 4xx status.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Metric from "effect/Metric"
import * as Metrics from "../server/Metrics.js"
import { bodyOf, error, guarded, idParam, notFound, ok, query } from "./ApiAnswers.js"
import * as Inbox from "./Inbox.js"
import * as InboxMessage from "./InboxMessage.js"
import * as InboxSend from "./InboxSend.js"
import * as Search from "./Search.js"

// start and limit: absent -> defaults; anything but a whole number -> undefined (a 400)
const paging = (params: URLSearchParams): { readonly start: number; readonly limit: number } | undefined => {
  const number = (name: string, fallback: number) => {
    const value = params.get(name)
    if (value === null || value === "") return fallback
    return /^\d{1,9}$/.test(value) ? Number(value) : undefined
  }
  const start = number("start", 0)
  const limit = number("limit", 50)
  return start === undefined || limit === undefined ? undefined : { start, limit: limit === 0 ? 1_000_000 : limit }
}

const pageJson = (page: Inbox.Page) =>
  HttpServerResponse.jsonUnsafe({
    total: page.total,
    unread: page.unread,
    count: page.messages.length,
    messages_count: page.matching,
    messages_unread: page.matchingUnread,
    start: page.start,
    tags: page.tags,
    messages: page.messages
  })

const idsOf = (body: Record<string, unknown>): ReadonlyArray<string> | undefined => {
  const ids = body["ids"]
  if (ids === undefined || ids === null) return []
  return Array.isArray(ids) && ids.every((id) => typeof id === "string") ? ids : undefined
}

// `tz`, the zone of a search's dates: undefined when absent, null when it names none
const timeZoneOf = (params: URLSearchParams): string | undefined | null => {
  const tz = params.get("tz")?.trim() ?? ""
  if (tz === "") return undefined
  return Search.isTimeZone(tz) ? tz : null
}

const badTimeZone = error(400, "tz must be a time zone such as Pacific/Auckland")

// the list, or with `search` the messages matching its `query`
const list = (request: HttpServerRequest.HttpServerRequest, search: boolean) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const params = query(request)
    const page = paging(params)
    if (page === undefined) return error(400, "start and limit must be whole numbers")
    if (search) {
      const q = (params.get("query") ?? "").trim()
      if (q === "") return error(400, "Error: no search query")
      const timeZone = timeZoneOf(params)
      if (timeZone === null) return badTimeZone
      return pageJson(yield* inbox.list({ ...page, query: q, timeZone }))
    }
    return pageJson(yield* inbox.list(page))
  })

const setRead = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const body = yield* bodyOf(request)
    const ids = body === undefined ? undefined : idsOf(body)
    if (body === undefined || ids === undefined) return error(400, 'the body must be {"IDs": [...], "Read": true}')
    const search = typeof body["search"] === "string" ? body["search"].trim() : ""
    if (ids.length > 0 && search !== "") return error(400, "You may specify either IDs or a search query, not both")
    const selection: Inbox.Selection =
      ids.length > 0 ? { _tag: "Ids", ids } : search !== "" ? { _tag: "Search", query: search } : { _tag: "All" }
    yield* inbox.setRead(selection, body["read"] === true)
    return ok
  })

// Mailpit deletes everything when no IDs are given, even when the body cannot be read
const remove = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const body = yield* bodyOf(request)
    const ids = body === undefined ? [] : idsOf(body)
    if (ids === undefined) return error(400, "IDs must be a list of message IDs")
    yield* inbox.remove(ids.length === 0 ? { _tag: "All" } : { _tag: "Ids", ids })
    return ok
  })

const removeSearch = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const params = query(request)
    const q = (params.get("query") ?? "").trim()
    if (q === "") return error(400, "Error: no search query")
    const timeZone = timeZoneOf(params)
    if (timeZone === null) return badTimeZone
    yield* inbox.remove({ _tag: "Search", query: q, timeZone })
    return ok
  })

// a message, marked read (as opening it in Mailpit does)
const message = Effect.gen(function* () {
  const inbox = yield* Inbox.Inbox
  const stored = yield* inbox.get(yield* idParam)
  if (stored === undefined) return notFound
  if (!stored.read) yield* inbox.setRead({ _tag: "Ids", ids: [stored.id] }, true)
  return HttpServerResponse.jsonUnsafe(InboxMessage.message(stored))
})

const headers = Effect.gen(function* () {
  const stored = yield* (yield* Inbox.Inbox).get(yield* idParam)
  return stored === undefined ? notFound : HttpServerResponse.jsonUnsafe(InboxMessage.headerMap(stored.parsed.headers))
})

const raw = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const id = yield* idParam
    const bytes = yield* (yield* Inbox.Inbox).raw(id)
    if (bytes === undefined) return notFound
    const download = query(request).get("dl") === "1"
    return HttpServerResponse.uint8Array(bytes, {
      contentType: "text/plain; charset=utf-8",
      headers: download ? { "content-disposition": `attachment; filename="${id.replace(/\W/g, "")}.eml"` } : {}
    })
  })

// types a browser would run or render as a page: served as downloads only
const active = /^(text\/html|text\/xml|application\/xhtml\+xml|image\/svg\+xml|application\/xml|text\/xsl)\b/i

const part = Effect.gen(function* () {
  const params = yield* HttpRouter.params
  const found = yield* (yield* Inbox.Inbox).part(params["id"] ?? "", params["part"] ?? "")
  if (found === undefined) return error(404, "part not found")
  const name = encodeURIComponent(found.part.FileName)
  const download = active.test(found.part.ContentType)
  return HttpServerResponse.uint8Array(found.content, {
    contentType: download ? "application/octet-stream" : found.part.ContentType,
    headers: {
      "content-disposition": `${download ? "attachment" : "inline"}; filename="${name}"`,
      "x-content-type-options": "nosniff"
    }
  })
})

const info = (version: string, database: string) =>
  Effect.gen(function* () {
    const stats = yield* (yield* Inbox.Inbox).stats
    return HttpServerResponse.jsonUnsafe({
      Version: version,
      LatestVersion: "disabled",
      Database: database,
      DatabaseSize: 0,
      Messages: stats.total,
      Unread: stats.unread,
      Tags: stats.tags,
      RuntimeStats: {
        Uptime: Math.round(process.uptime()),
        Memory: process.memoryUsage().rss,
        MessagesDeleted: stats.deleted,
        // the server's own counters: this process's SMTP sessions
        SMTPAccepted: (yield* Metric.value(Metrics.messagesAccepted)).count,
        SMTPAcceptedSize: (yield* Metric.value(Metrics.messageSize)).sum,
        SMTPRejected: (yield* Metric.value(Metrics.messagesRejected)).count,
        // duplicates are kept, never ignored
        SMTPIgnored: 0
      }
    })
  })

const tags = Effect.gen(function* () {
  const stats = yield* (yield* Inbox.Inbox).stats
  return HttpServerResponse.jsonUnsafe(Object.keys(stats.tags).sort())
})

const validTag = (tag: unknown): tag is string => typeof tag === "string" && /^[^\p{Cc},]+$/u.test(tag)

// PUT /api/v1/tags {"IDs": [...], "Tags": [...]}: those messages get exactly those tags
const setTags = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const body = yield* bodyOf(request)
    const ids = body === undefined ? undefined : idsOf(body)
    const tags = body?.["tags"]
    if (ids === undefined || ids.length === 0 || !Array.isArray(tags) || !tags.every(validTag)) {
      return error(400, 'the body must be {"IDs": [...], "Tags": [...]}, tags without commas or control characters')
    }
    yield* (yield* Inbox.Inbox).retag({ _tag: "Ids", ids }, () => tags)
    return ok
  })

// PUT /api/v1/tags/{Tag} {"Name": "new"}, DELETE /api/v1/tags/{Tag}: on every message that has it
const renameTag = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const tag = (yield* HttpRouter.params)["tag"] ?? ""
    const body = yield* bodyOf(request)
    const name = body?.["name"]
    if (!validTag(name)) return error(400, 'the body must be {"Name": "new name"}')
    yield* (yield* Inbox.Inbox).retag({ _tag: "All" }, (tags) => tags.map((t) => (t === tag ? name : t)))
    return ok
  })

const deleteTag = Effect.gen(function* () {
  const tag = (yield* HttpRouter.params)["tag"] ?? ""
  yield* (yield* Inbox.Inbox).retag({ _tag: "All" }, (tags) => tags.filter((t) => t !== tag))
  return ok
})

const send = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const body = yield* bodyOf(request)
    if (body === undefined) return error(400, "the body must be a JSON object")
    const built = InboxSend.build(body)
    if (built._tag === "Failure") return error(400, built.failure)
    const summary = yield* (yield* Inbox.Inbox).store(built.success.raw, built.success.envelope)
    return HttpServerResponse.jsonUnsafe({ ID: summary.ID })
  })

/**
 * The routes of the API, for `HttpRouter.serve` (with the `Inbox` in the context).
 *
 * @since 0.2.0
 * @category layers
 */
export const routes = (options: { readonly version: string; readonly database: string }) =>
  HttpRouter.addAll([
    HttpRouter.route("GET", "/api/v1/messages", (request) => guarded(list(request, false))),
    HttpRouter.route("PUT", "/api/v1/messages", (request) => guarded(setRead(request))),
    HttpRouter.route("DELETE", "/api/v1/messages", (request) => guarded(remove(request))),
    HttpRouter.route("GET", "/api/v1/search", (request) => guarded(list(request, true))),
    HttpRouter.route("DELETE", "/api/v1/search", (request) => guarded(removeSearch(request))),
    HttpRouter.route("GET", "/api/v1/message/:id", guarded(message)),
    HttpRouter.route("GET", "/api/v1/message/:id/headers", guarded(headers)),
    HttpRouter.route("GET", "/api/v1/message/:id/raw", (request) => guarded(raw(request))),
    HttpRouter.route("GET", "/api/v1/message/:id/part/:part", guarded(part)),
    HttpRouter.route("GET", "/api/v1/info", guarded(info(options.version, options.database))),
    HttpRouter.route("GET", "/api/v1/tags", guarded(tags)),
    HttpRouter.route("PUT", "/api/v1/tags", (request) => guarded(setTags(request))),
    HttpRouter.route("PUT", "/api/v1/tags/:tag", (request) => guarded(renameTag(request))),
    HttpRouter.route("DELETE", "/api/v1/tags/:tag", guarded(deleteTag)),
    HttpRouter.route("POST", "/api/v1/send", (request) => guarded(send(request)))
  ])
