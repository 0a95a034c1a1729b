/**
 * AUTH to an upstream server (RFC 4954): PLAIN when offered, else LOGIN. Credentials go only
 * into the wire; a refusal says which mechanism failed and its code, nothing more.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { UpstreamUnavailable } from "./ClientError.js"
import type { Conversation } from "./Conversation.js"
import type { Extensions } from "./Extensions.js"

const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/**
 * @since 0.1.0
 * @category combinators
 */
export const login = (
  talk: Conversation,
  extensions: Extensions,
  credentials: { readonly user: string; readonly password: Redacted.Redacted<string> },
  timeout: Duration.Duration
): Effect.Effect<void, UpstreamUnavailable> =>
  Effect.gen(function* () {
    const offered = (extensions.get("AUTH") ?? "").toUpperCase().split(/\s+/)
    const password = Redacted.value(credentials.password)
    const refused = (mechanism: string, code: number) =>
      new UpstreamUnavailable({ reason: "auth", detail: `AUTH ${mechanism} refused with ${code}` })
    if (offered.includes("PLAIN")) {
      const reply = yield* talk.command(`AUTH PLAIN ${base64(`\0${credentials.user}\0${password}`)}\r\n`, timeout)
      if (reply.code !== 235) return yield* refused("PLAIN", reply.code)
      return
    }
    if (offered.includes("LOGIN")) {
      for (const [line, expected] of [
        ["AUTH LOGIN", 334],
        [base64(credentials.user), 334],
        [base64(password), 235]
      ] as const) {
        const reply = yield* talk.command(`${line}\r\n`, timeout)
        if (reply.code !== expected) return yield* refused("LOGIN", reply.code)
      }
      return
    }
    return yield* new UpstreamUnavailable({ reason: "auth", detail: "the server offers neither AUTH PLAIN nor LOGIN" })
  })
