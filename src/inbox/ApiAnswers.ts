/**
 * How the inbox's HTTP API answers and reads its requests: Mailpit's JSON errors, its plain
 * `ok`, a body's keys taken without regard to case (as Mailpit's Go decoder takes them), and a
 * store that fails answered 500 with its cause in the log only.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"

/**
 * A 4xx answer: `{"Error": message}`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const error = (status: number, message: string) =>
  HttpServerResponse.jsonUnsafe({ Error: message }, { status, headers: { "referrer-policy": "no-referrer" } })

/**
 * @since 0.2.0
 * @category constructors
 */
export const notFound = error(404, "message not found")
/**
 * Mailpit's plain answer to a change.
 *
 * @since 0.2.0
 * @category constructors
 */
export const ok = HttpServerResponse.text("ok")

/**
 * The request's query parameters.
 *
 * @since 0.2.0
 * @category getters
 */
export const query = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://inbox").searchParams

/**
 * The request's body as JSON, its keys lower-cased (matched without regard to case, as
 * Mailpit's Go decoder does); `{}` when empty, undefined when it is not a JSON object.
 *
 * @since 0.2.0
 * @category getters
 */
export const bodyOf = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.map(
    Effect.orElseSucceed(request.text, () => ""),
    (text): Record<string, unknown> | undefined => {
      if (text.trim() === "") return {}
      try {
        const value: unknown = JSON.parse(text)
        if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.toLowerCase(), v]))
      } catch {
        return undefined
      }
    }
  )

/**
 * The route's `:id`.
 *
 * @since 0.2.0
 * @category getters
 */
export const idParam = Effect.map(HttpRouter.params, (params) => params["id"] ?? "")

/**
 * A failed store is the server's fault: 500, its cause in the log only.
 *
 * @since 0.2.0
 * @category combinators
 */
export const guarded = <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.catchCause(effect, (cause) =>
    Effect.as(Effect.logError("inbox API", cause), error(500, "the inbox cannot answer now"))
  )
