/**
 * A typed client of the inbox's HTTP API (Mailpit's API v1, so it talks to Mailpit too), for an
 * Effect app's tests: start `effect-smtpd -c Inbox` (or the inbox in a Layer), run the code
 * under test, then `waitFor("to:x@example.com")`.
 *
 * ```ts
 * const test = Effect.gen(function* () {
 *   const inbox = yield* InboxClient.InboxClient
 *   yield* inbox.deleteAll
 *   yield* sendWelcomeMail("x@example.com")
 *   const arrived = yield* inbox.waitFor("to:x@example.com", { timeout: "5 seconds" })
 *   const message = yield* inbox.message(arrived.ID)
 * }).pipe(Effect.provide(InboxClient.layer("http://localhost:8026")), Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as WallClock from "../internal/WallClock.js"
import type * as InboxMessage from "./InboxMessage.js"

/**
 * The API could not be reached, answered with an error, or nothing arrived in time.
 *
 * @since 0.2.0
 * @category errors
 */
export class InboxClientError extends Data.TaggedError("InboxClientError")<{
  readonly message: string
  readonly status?: number | undefined
}> {}

/**
 * A page of the list or of a search, as the API gives it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Page {
  readonly total: number
  readonly unread: number
  readonly count: number
  readonly messages_count: number
  readonly start: number
  readonly tags: ReadonlyArray<string>
  readonly messages: ReadonlyArray<InboxMessage.Summary>
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  readonly list: (options?: {
    readonly start?: number
    readonly limit?: number
  }) => Effect.Effect<Page, InboxClientError>
  /** Mailpit's search syntax: `to:x@example.com subject:"welcome" is:unread`. */
  readonly search: (
    query: string,
    options?: { readonly start?: number; readonly limit?: number }
  ) => Effect.Effect<Page, InboxClientError>
  /** A whole message (`latest`: the newest); it is marked read. */
  readonly message: (id: string) => Effect.Effect<InboxMessage.Message, InboxClientError>
  readonly headers: (id: string) => Effect.Effect<Record<string, ReadonlyArray<string>>, InboxClientError>
  readonly raw: (id: string) => Effect.Effect<Uint8Array, InboxClientError>
  readonly part: (id: string, partId: string) => Effect.Effect<Uint8Array, InboxClientError>
  readonly remove: (ids: ReadonlyArray<string>) => Effect.Effect<void, InboxClientError>
  readonly deleteAll: Effect.Effect<void, InboxClientError>
  /** POST /api/v1/send: Mailpit's send request (From, To, Subject, Text, HTML, Attachments, …). */
  readonly send: (request: Record<string, unknown>) => Effect.Effect<{ readonly ID: string }, InboxClientError>
  /**
   * The newest message matching `query`, once there is one: the API is asked every `interval`
   * (default 100 ms) until `timeout` (default 10 s). Real time, not the Clock, so that it works
   * in a test whose clock is a TestClock.
   */
  readonly waitFor: (
    query: string,
    options?: { readonly timeout?: Duration.Input; readonly interval?: Duration.Input }
  ) => Effect.Effect<InboxMessage.Summary, InboxClientError>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class InboxClient extends Context.Service<InboxClient, Service>()("effect-smtpd/InboxClient") {}

// the API's answer: its JSON (or bytes), or its {"Error"} as the failure
const read = <A>(
  effect: Effect.Effect<HttpClientResponse.HttpClientResponse, unknown>,
  body: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, unknown>
): Effect.Effect<A, InboxClientError> =>
  Effect.gen(function* () {
    const response = yield* effect
    if (response.status >= 400) {
      const text = yield* Effect.orElseSucceed(response.text, () => "")
      let message = text
      try {
        message = (JSON.parse(text) as { Error?: string }).Error ?? text
      } catch {
        // not JSON (Mailpit answers errors as text)
      }
      return yield* new InboxClientError({ message: `${response.status}: ${message}`, status: response.status })
    }
    return yield* body(response)
  }).pipe(
    Effect.mapError((error) =>
      error instanceof InboxClientError ? error : new InboxClientError({ message: `the inbox API: ${String(error)}` })
    )
  )

/**
 * The client of the API at `baseUrl` (`http://localhost:8026`), on the `HttpClient` in the
 * context (`FetchHttpClient.layer`, or `NodeHttpClient.layerUndici`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (baseUrl: string): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(Effect.service(HttpClient.HttpClient), (http): Service => {
    const base = baseUrl.replace(/\/+$/, "")
    const get = (path: string, params: Record<string, string | number | undefined> = {}) =>
      http.execute(
        HttpClientRequest.get(`${base}${path}`, {
          urlParams: Object.entries(params).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)] as const]))
        })
      )
    const json = <A>(response: HttpClientResponse.HttpClientResponse) => Effect.map(response.json, (j) => j as A)
    const bytes = (response: HttpClientResponse.HttpClientResponse) =>
      Effect.map(response.arrayBuffer, (b) => new Uint8Array(b))
    const done = () => Effect.void
    const search: Service["search"] = (query, options) =>
      read(get("/api/v1/search", { query, start: options?.start, limit: options?.limit }), json<Page>)
    const id = (value: string) => encodeURIComponent(value)
    return {
      list: (options) => read(get("/api/v1/messages", { start: options?.start, limit: options?.limit }), json<Page>),
      search,
      message: (m) => read(get(`/api/v1/message/${id(m)}`), json<InboxMessage.Message>),
      headers: (m) => read(get(`/api/v1/message/${id(m)}/headers`), json<Record<string, ReadonlyArray<string>>>),
      raw: (m) => read(get(`/api/v1/message/${id(m)}/raw`), bytes),
      part: (m, p) => read(get(`/api/v1/message/${id(m)}/part/${id(p)}`), bytes),
      remove: (ids) =>
        ids.length === 0
          ? Effect.void
          : read(
              http.execute(
                HttpClientRequest.delete(`${base}/api/v1/messages`).pipe(HttpClientRequest.bodyJsonUnsafe({ IDs: ids }))
              ),
              done
            ),
      deleteAll: read(http.execute(HttpClientRequest.delete(`${base}/api/v1/messages`)), done),
      send: (request) =>
        read(
          http.execute(HttpClientRequest.post(`${base}/api/v1/send`).pipe(HttpClientRequest.bodyJsonUnsafe(request))),
          json<{ readonly ID: string }>
        ),
      waitFor: (query, options) => {
        const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(options?.timeout ?? "10 seconds"))
        const interval = Duration.toMillis(Duration.fromInputUnsafe(options?.interval ?? "100 millis"))
        const attempt: Effect.Effect<InboxMessage.Summary, InboxClientError> = Effect.flatMap(
          search(query, { limit: 1 }),
          (page) => {
            const found = page.messages[0]
            if (found !== undefined) return Effect.succeed(found)
            if (Date.now() >= deadline) {
              return Effect.fail(new InboxClientError({ message: `no message matching ${query} arrived in time` }))
            }
            return Effect.andThen(WallClock.sleep(interval), attempt)
          }
        )
        return attempt
      }
    }
  })

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (baseUrl: string): Layer.Layer<InboxClient, never, HttpClient.HttpClient> =>
  Layer.effect(InboxClient, make(baseUrl))
