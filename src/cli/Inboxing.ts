/**
 * The inbox of `--class Inbox`: kept in memory or in the `--inbox` file, at most `--inbox-max`
 * messages, served with Mailpit's API and the web inbox on `--web`. Its modules (the HTTP server,
 * the MIME parser) are loaded only when the class is Inbox: every other run of the command
 * would otherwise hold them too.
 *
 * @since 0.2.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Authenticator from "../auth/Authenticator.js"
import * as Chaos from "../inbox/Chaos.js"
import type * as Inbox from "../inbox/Inbox.js"
import type * as NodeInbox from "../node/NodeInbox.js"
import type * as FileSystem from "effect/FileSystem"
import * as Address from "../protocol/Address.js"
import { parseAddress } from "../server/SmtpServer.js"
import { upstreamOf } from "./Handlers.js"
import { type Parsed, UsageError, version } from "./Options.js"
import * as UpstreamAddress from "./UpstreamAddress.js"

// --release-to and what goes with it: where and how messages are released, if anywhere
const releaseOptions = (parsed: Parsed) =>
  Effect.gen(function* () {
    const to = Option.getOrUndefined(parsed.releaseTo)
    const allowed = Option.getOrUndefined(parsed.releaseAllowed)
    const returnPath = Option.getOrUndefined(parsed.releaseReturnPath)
    if (to === undefined) {
      if (allowed !== undefined || returnPath !== undefined) {
        return yield* new UsageError({ message: "--release-allowed and --release-return-path need --release-to" })
      }
      return undefined
    }
    if (UpstreamAddress.parse(to) === undefined) {
      return yield* new UsageError({ message: `--release-to must be ${UpstreamAddress.expected}, got ${to}` })
    }
    let pattern: RegExp | undefined = undefined
    try {
      pattern = allowed === undefined ? undefined : new RegExp(allowed, "i")
    } catch {
      return yield* new UsageError({ message: `--release-allowed is not a regular expression: ${allowed}` })
    }
    if (returnPath !== undefined && returnPath !== "" && !Address.isMailbox(returnPath)) {
      return yield* new UsageError({ message: `--release-return-path must be an address, got ${returnPath}` })
    }
    const upstream = yield* upstreamOf(parsed, to)
    return { upstream, allowed: pattern, returnPath }
  })

/**
 * The inbox and its web server when the class is Inbox; `undefined` otherwise.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  parsed: Parsed,
  workers: number
): Effect.Effect<
  Layer.Layer<Inbox.Inbox | Chaos.Chaos, NodeInbox.InboxOpenError> | undefined,
  UsageError,
  FileSystem.FileSystem
> =>
  Effect.gen(function* () {
    if (parsed.handlerClass !== "Inbox") return undefined
    if (parsed.inboxMax < 1)
      return yield* new UsageError({ message: `--inbox-max must be 1 or more, got ${parsed.inboxMax}` })
    const NodeInbox = yield* Effect.promise(() => import("../node/NodeInbox.js"))
    if (NodeInbox.parseListen(parsed.web) === undefined) {
      return yield* new UsageError({ message: `--web must be host:port, got ${parsed.web}` })
    }
    if (workers > 1) {
      return yield* new UsageError({ message: "--class Inbox is one process: drop --workers" })
    }
    const file = Option.getOrUndefined(parsed.inbox)
    const release = yield* releaseOptions(parsed)
    const spamd = Option.getOrUndefined(parsed.enableSpamassassin)
    const spamAssassin = spamd === undefined ? undefined : parseAddress(spamd)
    if (spamd !== undefined && spamAssassin === undefined) {
      return yield* new UsageError({ message: `--enable-spamassassin must be host:port, got ${spamd}` })
    }
    const inbox = NodeInbox.layer({
      file,
      max: parsed.inboxMax,
      version,
      chaos: parsed.enableChaos,
      release,
      spamAssassin
    })
    const web = NodeInbox.web({
      listen: parsed.web,
      database: file ?? ":memory:",
      version,
      onListening: (url) => Console.error(`effect-smtpd: web inbox and Mailpit API on ${url}`)
    })
    return Layer.provideMerge(web, inbox)
  })

/**
 * The server's authenticator, with the inbox's `Authentication` chaos trigger in front when there
 * is an inbox (the trigger fires only once chaos is enabled and set).
 *
 * @since 0.2.0
 * @category layers
 */
export const authenticator = <E>(
  authenticator: Layer.Layer<Authenticator.Authenticator, E> | undefined,
  inbox: Layer.Layer<Inbox.Inbox | Chaos.Chaos, NodeInbox.InboxOpenError> | undefined
): Layer.Layer<Authenticator.Authenticator, E | NodeInbox.InboxOpenError> | undefined =>
  authenticator === undefined || inbox === undefined
    ? authenticator
    : Chaos.guardAuthentication.pipe(Layer.provide(Layer.merge(authenticator, inbox)))
