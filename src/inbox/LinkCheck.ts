/**
 * Mailpit's link check: the http(s) links of a captured message (its HTML's `href` and `src`, its
 * text's URLs), each asked for with HEAD (GET when HEAD is not allowed), and what answered. On
 * demand only (`GET /api/v1/message/{ID}/link-check`): the inbox fetches nothing by itself.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"

/**
 * One link and its answer: `StatusCode` 0 when none came (`Status` says why).
 *
 * @since 0.2.0
 * @category models
 */
export interface Link {
  readonly URL: string
  readonly StatusCode: number
  readonly Status: string
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Report {
  /** Links that failed: no answer, or a status of 400 or more. */
  readonly Errors: number
  readonly Links: ReadonlyArray<Link>
}

const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'" }
const unescape = (value: string) => value.replace(/&(amp|lt|gt|quot|apos|#39);/g, (_, name: string) => entities[name]!)

const attributes = /<(?:a|area|img|link|source)\b[^>]*?\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi
const bare = /\bhttps?:\/\/[^\s<>"'()[\]]+/gi

const isWeb = (url: string) => {
  try {
    const protocol = new URL(url).protocol
    return protocol === "http:" || protocol === "https:"
  } catch {
    return false
  }
}

/**
 * The message's http(s) links, each once, in the order they appear (the HTML's first).
 *
 * @since 0.2.0
 * @category getters
 */
export const links = (message: { readonly html: string; readonly text: string }): ReadonlyArray<string> => {
  const found: Array<string> = []
  for (const match of message.html.matchAll(attributes))
    found.push(unescape((match[1] ?? match[2] ?? match[3]!).trim()))
  // a sentence's full stop or comma after a URL is not part of it
  for (const match of message.text.matchAll(bare)) found.push(match[0].replace(/[.,;:!?]+$/, ""))
  return [...new Set(found.filter(isWeb))]
}

const reasons: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  410: "Gone",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout"
}

const statusText = (code: number) => reasons[code] ?? `HTTP ${code}`

// HEAD, and GET where HEAD is not allowed; the status, or why there is none
const ask = (client: HttpClient.HttpClient, url: string): Effect.Effect<Link> => {
  const status = (request: HttpClientRequest.HttpClientRequest) =>
    client.execute(request).pipe(
      Effect.map((response) => response.status),
      Effect.scoped
    )
  return status(HttpClientRequest.head(url)).pipe(
    Effect.flatMap((code) =>
      code === 405 || code === 501 ? status(HttpClientRequest.get(url)) : Effect.succeed(code)
    ),
    Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.fail("timed out" as const) }),
    Effect.match({
      onFailure: (why) => ({ URL: url, StatusCode: 0, Status: why === "timed out" ? why : "no answer" }),
      onSuccess: (code) => ({ URL: url, StatusCode: code, Status: statusText(code) })
    })
  )
}

/**
 * Asks for each link, five at a time, following redirects (up to 10) when `follow`, else
 * reporting the redirect itself (a fetch client is told not to follow them).
 *
 * @since 0.2.0
 * @category constructors
 */
export const check = (
  urls: ReadonlyArray<string>,
  follow: boolean
): Effect.Effect<Report, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const base = yield* HttpClient.HttpClient
    const client = follow ? HttpClient.followRedirects(base, 10) : base
    const checked = yield* Effect.forEach(urls, (url) => ask(client, url), { concurrency: 5 })
    return { Errors: checked.filter((link) => link.StatusCode === 0 || link.StatusCode >= 400).length, Links: checked }
  }).pipe(
    // fetch must hand redirects back, and the links' hosts get no trace headers of ours
    Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" }),
    Effect.provideService(HttpClient.TracerPropagationEnabled, false)
  )
