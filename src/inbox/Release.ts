/**
 * Releasing a captured message (Mailpit's message relay): sending it on, byte for byte, to
 * recipients the API names, through an SMTP server set at start (`--release-to`). Off unless
 * that server is set; recipients may be limited to those matching a pattern. A service, so that
 * the API finds whether releasing is on and a test can replace the sending.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as SmtpClient from "../client/SmtpClient.js"
import { describe as describeError } from "../client/ClientError.js"
import * as Address from "../protocol/Address.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The server messages are released through. */
  readonly upstream: SmtpClient.Options
  /** The envelope sender of released messages (default: the one each message came with). */
  readonly returnPath?: string | undefined
  /** Only recipients matching this may be released to (default: any). */
  readonly allowed?: RegExp | undefined
}

/**
 * Why a release did not happen, in words fit for the API's answer.
 *
 * @since 0.2.0
 * @category errors
 */
export class ReleaseError extends Error {
  readonly _tag = "ReleaseError"
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** The settings, as `/api/v1/webui` shows them; undefined when releasing is off. */
  readonly settings: { readonly server: string; readonly returnPath: string; readonly allowed: string } | undefined
  /** Sends `raw` to `recipients` (checked first) from `mailFrom` unless a return path is set. */
  readonly send: (
    raw: Uint8Array,
    mailFrom: string,
    recipients: ReadonlyArray<string>
  ) => Effect.Effect<void, ReleaseError>
}

/**
 * @since 0.2.0
 * @category services
 */
export class Release extends Context.Service<Release, Service>()("effect-smtpd/Release") {}

/**
 * What is wrong with `recipients` for a release, if anything.
 *
 * @since 0.2.0
 * @category validation
 */
export const refusal = (recipients: ReadonlyArray<string>, allowed: RegExp | undefined): string | undefined => {
  if (recipients.length === 0) return "no recipients to release to"
  for (const to of recipients) {
    if (!Address.isMailbox(to)) return `not an address: ${JSON.stringify(to)}`
    if (allowed !== undefined && !allowed.test(to)) return `${to} is not an allowed recipient`
  }
  return undefined
}

/**
 * Releasing off.
 *
 * @since 0.2.0
 * @category layers
 */
export const off: Layer.Layer<Release> = Layer.succeed(Release, {
  settings: undefined,
  send: () => Effect.fail(new ReleaseError("message release is not enabled (--release-to)"))
})

/**
 * Releasing through `options.upstream`, with the `SmtpClient` in the context.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Release, never, SmtpClient.SmtpClient> =>
  Layer.effect(
    Release,
    Effect.map(Effect.service(SmtpClient.SmtpClient), (client) => ({
      settings: {
        server: `${options.upstream.host}:${options.upstream.port ?? 25}`,
        returnPath: options.returnPath ?? "",
        allowed: options.allowed?.source ?? ""
      },
      send: (raw, mailFrom, recipients) => {
        const refused = refusal(recipients, options.allowed)
        if (refused !== undefined) return Effect.fail(new ReleaseError(refused))
        const envelope = {
          mailFrom: options.returnPath ?? mailFrom,
          mailParameters: [],
          recipients: recipients.map((address) => ({ address, parameters: [] }))
        }
        return Effect.scoped(
          Effect.flatMap(client.connect(options.upstream), (connection) => connection.send(envelope, Stream.make(raw)))
        ).pipe(
          // the reason the API gives; how a connection failed (system text) goes to the log only
          Effect.catch((error) =>
            error._tag === "UpstreamUnavailable"
              ? Effect.andThen(
                  Effect.logWarning(`inbox: release: ${describeError(error)}`),
                  Effect.fail(new ReleaseError(`the release server cannot be reached (${error.reason})`))
                )
              : Effect.fail(new ReleaseError(`the release server refused it: ${describeError(error)}`))
          ),
          Effect.flatMap((result) =>
            result.refused.length === 0
              ? Effect.void
              : Effect.fail(
                  new ReleaseError(
                    `the release server refused ${result.refused.map((r) => `${r.address} (${r.reply.code})`).join(", ")}`
                  )
                )
          )
        )
      }
    }))
  )
