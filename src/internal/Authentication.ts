/**
 * One AUTH exchange (RFC 4954): the SASL mechanism's challenges and the client's answers, then
 * the `Authenticator`'s verdict. Answers are read as raw lines, never decoded as commands and
 * never traced; `*` cancels.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Authenticator from "../auth/Authenticator.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Reply from "../protocol/Reply.js"
import * as Sasl from "../protocol/Sasl.js"
import * as SmtpError from "../protocol/SmtpError.js"
import type { AuthRateLimit } from "../server/AuthRateLimit.js"
import * as Metrics from "../server/Metrics.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Authenticated"; readonly identity: string }
  /** Wrong credentials: a failed attempt. */
  | { readonly _tag: "Refused" }
  /** Cancelled or malformed: this reply, not counted as a failed attempt. */
  | { readonly _tag: "Reply"; readonly reply: Reply.Reply }

const temporaryFailure = Reply.make(454, "4.7.0", "Temporary authentication failure")
const rateLimited = Reply.make(454, "4.7.0", "Too many failed authentications from your address, try again later")

// a CRAM-MD5 challenge must not repeat (RFC 2195 §2)
const nonce = () => {
  const bytes = new Uint8Array(12)
  globalThis.crypto.getRandomValues(bytes)
  return `${Date.now()}.${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`
}

/**
 * Runs the exchange. `challenge` sends `334 <text>` and gives the client's next line (`undefined`
 * for a line too long to be an answer).
 *
 * @since 0.1.0
 * @category combinators
 */
export const exchange = <E>(options: {
  readonly mechanism: Sasl.Mechanism
  readonly initialResponse: string | undefined
  readonly hostname: string
  readonly authenticator: Authenticator.Service
  readonly session: SessionInfo
  readonly challenge: (text: string) => Effect.Effect<string | undefined, E>
  /** Failed attempts counted across the client's connections: past the limit, no exchange at all. */
  readonly rateLimit: AuthRateLimit
}): Effect.Effect<Outcome, E> => Effect.gen(() => exchangeSteps(options))

/**
 * The exchange as a session runs it, with the server's settings (`env`; without an
 * Authenticator, AUTH is not implemented): each challenge goes out with `client.send` as a
 * `334` reply, and `client.answer` reads the client's next line.
 *
 * @since 0.3.0
 * @category combinators
 */
export const converse = <E>(
  env: {
    readonly config: { readonly protocol: { readonly hostname: string }; readonly authRateLimit: AuthRateLimit }
    readonly authenticator?: Authenticator.Service | undefined
  },
  request: { readonly mechanism: Sasl.Mechanism; readonly initialResponse: string | undefined },
  client: {
    readonly session: SessionInfo
    readonly send: (reply: Reply.Reply) => void
    readonly answer: Effect.Effect<string | undefined, E>
  }
): Effect.Effect<Outcome, E> => {
  const { authenticator, config } = env
  if (authenticator === undefined) return Effect.succeed({ _tag: "Reply", reply: Reply.notImplemented })
  return exchange({
    ...request,
    hostname: config.protocol.hostname,
    authenticator,
    rateLimit: config.authRateLimit,
    session: client.session,
    challenge: (text) =>
      Effect.suspend(() => {
        client.send(Reply.make(334, undefined, text))
        return client.answer
      })
  })
}

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* exchangeSteps<E>(options: Parameters<typeof exchange<E>>[0]) {
  const address = options.session.peer.address
  if (options.rateLimit.isRefused(address, yield* Clock.currentTimeMillis)) {
    yield* Metric.update(Metrics.authRateLimited, 1)
    return { _tag: "Reply", reply: rateLimited } as const
  }
  let step = Sasl.start(options.mechanism, options.initialResponse, { hostname: options.hostname, nonce: nonce() })
  while (step._tag === "Challenge") {
    const line = yield* options.challenge(step.challenge)
    if (line === undefined) return { _tag: "Reply", reply: Reply.lineTooLong } as const
    if (line === "*") return { _tag: "Reply", reply: Reply.authCancelled } as const
    step = step.next(line)
  }
  if (step._tag === "Fail") return { _tag: "Reply", reply: step.reply } as const
  const credentials = step.credentials
  // an Authenticator that breaks is a temporary failure (RFC 4954 §6), never a session crash
  return yield* options.authenticator.authenticate(credentials, options.session).pipe(
    Effect.map(
      Option.match({
        onNone: (): Outcome => ({ _tag: "Refused" }),
        onSome: (identity): Outcome => ({ _tag: "Authenticated", identity })
      })
    ),
    Effect.catch((error) => Effect.succeed<Outcome>({ _tag: "Reply", reply: SmtpError.reply(error) })),
    Effect.catchDefect((defect) =>
      Effect.as(Effect.logError("authenticator failed", defect), { _tag: "Reply", reply: temporaryFailure } as const)
    ),
    Effect.tap((outcome) =>
      outcome._tag === "Refused"
        ? Effect.map(Clock.currentTimeMillis, (now) => options.rateLimit.failed(address, now))
        : Effect.void
    )
  )
}
