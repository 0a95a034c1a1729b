/**
 * What can go wrong when the client talks to an upstream server, and the reply each failure
 * gives to the client whose message we are passing on.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"

/**
 * The upstream could not be reached, timed out, closed, spoke no SMTP, failed TLS or refused
 * our credentials: nothing was delivered, and the sender should try again later (`toSmtpError`:
 * `451 4.4.1`).
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamUnavailable extends Schema.TaggedError<UpstreamUnavailable>()("UpstreamUnavailable", {
  reason: Schema.Literals(["connect", "timeout", "closed", "protocol", "tls", "auth"]),
  /** For logs; never sent to a client. */
  detail: Schema.String
}) {}

/**
 * The upstream answered a command with 4xx or 5xx (`toSmtpError`: that reply as it was, but a
 * 421 becomes `451 4.4.1`: the upstream closing is no reason to close on our client).
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamRefused extends Schema.TaggedError<UpstreamRefused>()("UpstreamRefused", {
  command: Schema.String,
  reply: Schema.instanceOf(Reply.Reply)
}) {}

/**
 * The message needs an extension the upstream does not offer: sending it anyway would corrupt it
 * (`toSmtpError`: `554 5.6.3` for 8BITMIME and BINARYMIME, `553 5.6.7` for SMTPUTF8). A
 * BINARYMIME message needs CHUNKING as well (RFC 3030 §3), and the client's `chunking` on.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamUnsupported extends Schema.TaggedError<UpstreamUnsupported>()("UpstreamUnsupported", {
  extension: Schema.Literals(["8BITMIME", "BINARYMIME", "SMTPUTF8"])
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export type ClientError = UpstreamUnavailable | UpstreamRefused | UpstreamUnsupported

/**
 * The failure on one line, for a log: `connect: 127.0.0.1: connect ECONNREFUSED …`, `MAIL
 * refused: 550 5.7.1 …`, `no 8BITMIME`.
 *
 * @since 0.2.0
 * @category getters
 */
export const describe = (error: ClientError): string => {
  switch (error._tag) {
    case "UpstreamUnavailable":
      return `${error.reason}: ${error.detail}`
    case "UpstreamRefused":
      return `${error.command} refused: ${Reply.encode(error.reply, true).trimEnd().replace(/\r\n/g, " ")}`
    case "UpstreamUnsupported":
      return `the upstream does not offer ${error.extension}`
  }
}

// RFC 6152 §3 and RFC 3030 §3 (content the upstream cannot take), RFC 6531 §3.5 (addresses)
const unsupported: Record<UpstreamUnsupported["extension"], () => SmtpError.SmtpError> = {
  "8BITMIME": () =>
    new SmtpError.Custom({ code: 554, enhanced: "5.6.3", text: "Upstream server does not accept 8-bit content" }),
  BINARYMIME: () =>
    new SmtpError.Custom({ code: 554, enhanced: "5.6.3", text: "Upstream server does not accept binary content" }),
  SMTPUTF8: () =>
    new SmtpError.Custom({ code: 553, enhanced: "5.6.7", text: "Upstream server does not accept UTF-8 addresses" })
}

/**
 * The reply for our own client: a refusal passes through (a 421 becomes 451, since it is not
 * our session that closes), an unreachable upstream is 451 4.4.1, a missing extension is
 * permanent.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toSmtpError = (error: ClientError): SmtpError.SmtpError => {
  switch (error._tag) {
    case "UpstreamUnavailable":
      return new SmtpError.Custom({
        code: 451,
        enhanced: "4.4.1",
        text: "Upstream server unavailable, try again later"
      })
    case "UpstreamRefused": {
      const { code, enhanced, lines } = error.reply
      return code === 421
        ? new SmtpError.Upstream({ code: 451, enhanced: enhanced ?? "4.4.1", lines })
        : new SmtpError.Upstream({ code, enhanced, lines })
    }
    case "UpstreamUnsupported":
      return unsupported[error.extension]()
  }
}

const tags = new Set<string>(["UpstreamUnavailable", "UpstreamRefused", "UpstreamUnsupported"])

/**
 * @since 0.1.0
 * @category predicates
 */
export const isClientError = (u: unknown): u is ClientError =>
  typeof u === "object" && u !== null && "_tag" in u && tags.has((u as { _tag: string })._tag)

/**
 * Turns the client's failures into the replies for our own client; other failures pass.
 *
 * @since 0.1.0
 * @category conversions
 */
export const asSmtpError = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, ClientError> | SmtpError.SmtpError, R> =>
  effect.pipe(
    // why the upstream was unavailable is for our log only
    Effect.tapError((error) =>
      isClientError(error) && error._tag === "UpstreamUnavailable"
        ? Effect.logWarning(`upstream unavailable (${error.reason}): ${error.detail}`)
        : Effect.void
    ),
    Effect.mapError((error) => (isClientError(error) ? toSmtpError(error) : (error as Exclude<E, ClientError>)))
  )
