/**
 * The mail queue behind the command's queue-mode relays (`--relay-mode queue`, routes with
 * `"mode": "queue"`): the `MailQueue` at `--queue` for their handlers, and `Delivery` passing
 * its messages on to their upstreams on the schedule of `--retry-min`, `--retry-max`,
 * `--queue-lifetime` and `--delay-warning`.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Os from "node:os"
import type * as SmtpClient from "../client/SmtpClient.js"
import * as Relay from "../handlers/Relay.js"
import type * as NodeMailQueue from "../node/NodeMailQueue.js"
import * as QueueSpec from "../queue/QueueSpec.js"
import * as NodeSmtpClient from "../node/NodeSmtpClient.js"
import * as Backoff from "../queue/Backoff.js"
import * as Delivery from "../queue/Delivery.js"
import type * as MailQueue from "../queue/MailQueue.js"
import { loadRoutes, upstreamOf } from "./Handlers.js"
import { type Parsed, UsageError } from "./Options.js"
import * as RoutesFile from "./RoutesFile.js"

// the upstream addresses the handler relays to in queue mode
const queueAddresses = (parsed: Parsed): Effect.Effect<ReadonlyArray<string>, UsageError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    if (parsed.handlerClass === "PureProxy") {
      return parsed.relayMode === "queue" ? [Option.getOrElse(parsed.remoteaddr, () => "localhost:25")] : []
    }
    if (parsed.handlerClass !== "Router" || Option.isNone(parsed.routes)) return []
    const config = yield* loadRoutes(parsed.routes.value)
    return RoutesFile.relays(config).flatMap((deliver) =>
      (deliver.mode ?? parsed.relayMode) === "queue" ? [deliver.relay] : []
    )
  })

/**
 * The upstream of every queue-mode relay, by its route (`Relay.routeOf`, the name its handler
 * gives the messages it queues): what `Delivery` delivers to. Empty when nothing queues.
 *
 * @since 0.2.0
 * @category constructors
 */
export const routes = (
  parsed: Parsed,
  hostname: string
): Effect.Effect<Record<string, SmtpClient.Options>, UsageError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const found: Record<string, SmtpClient.Options> = {}
    for (const address of yield* queueAddresses(parsed)) {
      const upstream = yield* upstreamOf(parsed, address)
      // no client session to take a name from: we greet as the server's hostname
      found[Relay.routeOf(upstream)] = { ...upstream, heloName: upstream.heloName ?? hostname }
    }
    return found
  })

const atLeastOne = (flag: string, seconds: number) =>
  seconds >= 1 ? Effect.void : Effect.fail(new UsageError({ message: `${flag} must be at least 1, got ${seconds}` }))

/**
 * The retry policy of the flags, in seconds on the command line.
 *
 * @since 0.2.0
 * @category constructors
 */
export const policy = (parsed: Parsed): Effect.Effect<Backoff.RetryPolicy, UsageError> =>
  Effect.gen(function* () {
    const warning = Option.getOrUndefined(parsed.delayWarning)
    yield* atLeastOne("--retry-min", parsed.retryMin)
    yield* atLeastOne("--retry-max", parsed.retryMax)
    yield* atLeastOne("--queue-lifetime", parsed.queueLifetime)
    if (warning !== undefined) yield* atLeastOne("--delay-warning", warning)
    if (parsed.retryMax < parsed.retryMin) {
      const message = `--retry-max (${parsed.retryMax}) is below --retry-min (${parsed.retryMin})`
      return yield* new UsageError({ message })
    }
    return Backoff.make({
      minBackoffMs: parsed.retryMin * 1000,
      maxBackoffMs: parsed.retryMax * 1000,
      lifetimeMs: parsed.queueLifetime * 1000,
      delayWarningMs: warning === undefined ? undefined : warning * 1000
    })
  })

/**
 * The queue and its delivery, for a process that serves (one of `workers`), when something is in
 * queue mode; `undefined` when nothing is. A SQLite queue belongs to one process: with more
 * than one worker it is a usage error (PostgreSQL is shared: each worker delivers from it).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  parsed: Parsed,
  workers: number
): Effect.Effect<
  Layer.Layer<MailQueue.MailQueue, NodeMailQueue.QueueOpenError> | undefined,
  UsageError,
  FileSystem.FileSystem
> =>
  Effect.gen(function* () {
    const hostname = Os.hostname()
    const upstreams = yield* routes(parsed, hostname)
    if (Object.keys(upstreams).length === 0) return undefined
    if (workers > 1 && !QueueSpec.isPostgres(parsed.queue)) {
      const message = `--workers ${workers} cannot share the SQLite queue ${parsed.queue}: SQLite is one process; run one worker, or use --queue postgres://…`
      return yield* new UsageError({ message })
    }
    const retry = yield* policy(parsed)
    return Delivery.layer({ routes: upstreams, hostname, policy: retry }).pipe(
      // the SQL clients loaded only now: a command without a queue never loads them
      Layer.provideMerge(
        Layer.unwrap(
          Effect.map(
            Effect.promise(() => import("../node/NodeMailQueue.js")),
            (queue) => queue.layer(parsed.queue)
          )
        )
      ),
      Layer.provide(NodeSmtpClient.layer)
    )
  })
