/**
 * The queue's delivery: workers claim due messages with a lease, deliver them with `SmtpClient`
 * to their route's upstream, keep each recipient's state, retry the deferred ones on the retry
 * policy's schedule (Postfix's: 300 s doubling to 4000 s, given up after 5 days), and send the
 * sender a notice for recipients bounced (and, if the policy says so, delayed). A worker that
 * crashes keeps its messages only until its lease runs out. Delivery is at least once: a
 * message in flight when a worker died may reach its upstream twice, no other.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SmtpClient from "../client/SmtpClient.js"
import * as Reply from "../protocol/Reply.js"
import * as Attempt from "./Attempt.js"
import * as Backoff from "./Backoff.js"
import * as MailQueue from "./MailQueue.js"
import * as QueueMetrics from "./QueueMetrics.js"
import * as QueueRows from "./QueueRows.js"
import * as Reports from "./Reports.js"
import * as ErrorText from "../internal/ErrorText.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The upstream of each route a queued message may name (`Relay.routeOf(upstream)` by default). */
  readonly routes: Readonly<Record<string, SmtpClient.Options>>
  /** Our name in the notices (Reporting-MTA, MAILER-DAEMON@). */
  readonly hostname: string
  readonly policy?: Backoff.RetryPolicy | undefined
  /** Messages delivered at once by this process (default 8). */
  readonly concurrency?: number | undefined
  /** How often to look for due messages when there are none (default 1 second). */
  readonly pollInterval?: Duration.Input | undefined
  /** How long a claimed message is ours before another worker may take it (default 10 minutes). */
  readonly lease?: Duration.Input | undefined
  /**
   * How long an upstream that could not be reached is left alone: its messages wait, untried,
   * instead of each being tried and deferred (default 5 seconds; short, so that a flush after
   * the upstream is back is not held up for long).
   */
  readonly deadRoute?: Duration.Input | undefined
}

const noRoute = Reply.make(451, "4.3.5", "No route to an upstream for this message")
// the last try at the end of the lifetime failed too (RFC 3463: delivery time expired)
const expiredStatus = "4.4.7"

interface Worker {
  readonly queue: MailQueue.Service
  readonly client: SmtpClient.SmtpClient["Service"]
  readonly options: Options
  readonly policy: Backoff.RetryPolicy
  readonly owner: string
  /**
   * Routes whose upstream could not be reached, since and until when: their messages are left
   * where they are meanwhile, untried and unwritten (Postfix's dead destinations), rather than
   * each tried and deferred in turn. A flush (`queue flush`) after `since` ends it at once.
   */
  readonly dead: Map<string, { readonly since: number; readonly until: number }>
  readonly deadMs: number
}

// one message: the attempt, the notices it calls for, then its new state
const deliver = (worker: Worker, message: MailQueue.QueuedMessage) =>
  Effect.gen(() => deliverSteps(worker, message)).pipe(
    Effect.catch((error) => Effect.logError(`queue: message ${message.id} not settled: ${ErrorText.ofError(error)}`)),
    // a defect in one message must not stop the others: it is tried again when its lease runs out
    Effect.catchDefect((defect) => Effect.logError(`queue: message ${message.id} failed`, defect))
  )

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* deliverSteps(worker: Worker, message: MailQueue.QueuedMessage) {
  const { client, options, policy, queue } = worker
  const upstream = options.routes[message.route]
  const outcomes =
    upstream === undefined
      ? MailQueue.pending(message).map((r) => ({ index: r.index, state: "deferred" as const, reply: noRoute }))
      : yield* Attempt.run(queue, client, message, upstream)
  const now = yield* Clock.currentTimeMillis
  if (Attempt.unreachable(outcomes)) worker.dead.set(message.route, { since: now, until: now + worker.deadMs })
  const deferred = outcomes.filter((o) => o.state === "deferred")
  const next =
    deferred.length === 0
      ? undefined
      : Backoff.nextAttempt(policy, { createdAt: message.createdAt, attempts: message.attempts + 1, now })
  const expired = next === "expired"
  const final = outcomes.map((o) => (expired && o.state === "deferred" ? { ...o, state: "bounced" as const } : o))
  const warn =
    !expired && deferred.length > 0 && Backoff.delayWarningDue(policy, { ...message, now, warned: message.warned })
  yield* notices(worker, message, outcomes, { expired, warn, now })
  yield* QueueMetrics.count(final)
  yield* queue.settle(message.id, worker.owner, {
    recipients: final.map((o) => ({ index: o.index, state: o.state, reply: Attempt.text(o.reply) })),
    nextAttempt: next === undefined || expired ? undefined : next,
    warned: message.warned || warn
  })
}

// a failure notice for the bounced (and the expired), a delay warning if due, a success notice for
// those delivered to an upstream that does not report (when NOTIFY asks); one that cannot be
// queued is logged: the recipients' states are recorded all the same
const notices = (
  worker: Worker,
  message: MailQueue.QueuedMessage,
  outcomes: ReadonlyArray<Attempt.Outcome>,
  at: { readonly expired: boolean; readonly warn: boolean; readonly now: number }
) => {
  const byIndex = new Map(message.recipients.map((r) => [r.index, r]))
  const entries: Array<Reports.Entry> = []
  for (const o of outcomes) {
    const recipient = byIndex.get(o.index)!
    if (o.state === "bounced") entries.push({ recipient, action: "failed", reply: o.reply })
    else if (o.state === "deferred" && at.expired) {
      entries.push({ recipient, action: "failed", reply: o.reply, status: expiredStatus })
    } else if (o.state === "deferred" && at.warn) entries.push({ recipient, action: "delayed", reply: o.reply })
    else if (o.state === "delivered" && o.success !== undefined) {
      entries.push({
        recipient,
        action: o.success,
        reply: o.reply,
        remoteMta: worker.options.routes[message.route]?.host
      })
    }
  }
  if (entries.length === 0) return Effect.void
  const willRetryUntil = message.createdAt + worker.policy.lifetimeMs
  return Reports.send(
    worker.queue,
    { hostname: worker.options.hostname, now: at.now, willRetryUntil },
    message,
    entries
  ).pipe(
    Effect.catch((error) =>
      Effect.logError(`queue: a notice about ${message.id} could not be queued: ${ErrorText.ofError(error)}`)
    )
  )
}

// the dead routes whose time is up, or that a flush (of any process) has come after
const reviveRoutes = (worker: Worker, now: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    for (const [route, dead] of worker.dead) if (dead.until <= now) worker.dead.delete(route)
    if (worker.dead.size === 0) return Effect.void
    const flushedAt = Effect.orElseSucceed(worker.queue.flushedAt, () => undefined)
    return Effect.map(flushedAt, (flushed) => {
      if (flushed === undefined) return
      for (const [route, dead] of worker.dead) if (flushed >= dead.since) worker.dead.delete(route)
    })
  })

// one round: claim what is due, deliver it; true when there may be more due at once
const round = (worker: Worker, limit: number, leaseMs: number) =>
  Effect.gen(() => roundSteps(worker, limit, leaseMs)).pipe(
    Effect.catch((error) =>
      Effect.as(Effect.logWarning(`queue: cannot claim messages: ${ErrorText.ofError(error)}`), false)
    ),
    Effect.catchDefect((defect) => Effect.as(Effect.logError("queue: a delivery round failed", defect), false))
  )

function* roundSteps(worker: Worker, limit: number, leaseMs: number) {
  const now = yield* Clock.currentTimeMillis
  yield* reviveRoutes(worker, now)
  const except = [...worker.dead.keys()]
  const due = yield* worker.queue.claim({ owner: worker.owner, now, limit, leaseMs, except })
  yield* Effect.forEach(due, (message) => deliver(worker, message), { concurrency: limit, discard: true })
  return due.length === limit
}

/**
 * Delivers from the queue until interrupted: a round whenever messages are due, else one every
 * `pollInterval`; the queue's gauges are refreshed, and the pieces of bodies never completed
 * swept, as it goes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<never, never, MailQueue.MailQueue | SmtpClient.SmtpClient> =>
  Effect.gen(function* () {
    const worker: Worker = {
      queue: yield* MailQueue.MailQueue,
      client: yield* SmtpClient.SmtpClient,
      options,
      policy: options.policy ?? Backoff.defaultPolicy,
      owner: QueueRows.newId(),
      dead: new Map(),
      deadMs: Duration.toMillis(Duration.fromInputUnsafe(options.deadRoute ?? "5 seconds"))
    }
    const limit = options.concurrency ?? 8
    const leaseMs = Duration.toMillis(Duration.fromInputUnsafe(options.lease ?? "10 minutes"))
    const poll = Duration.fromInputUnsafe(options.pollInterval ?? "1 second")
    const released = yield* Effect.orElseSucceed(worker.queue.recover, () => 0)
    if (released > 0) yield* Effect.logInfo(`queue: ${released} message(s) a stopped process had leased are due again`)
    let rounds = 0
    return yield* Effect.forever(
      Effect.gen(function* () {
        if (rounds++ % 60 === 0) yield* housekeeping(worker.queue)
        if (!(yield* round(worker, limit, leaseMs))) yield* Effect.sleep(poll)
      })
    )
  })

// the gauges, and the body pieces of messages a crash left unfinished an hour ago or more
const housekeeping = (queue: MailQueue.Service) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.andThen(
      Effect.flatMap(queue.stats, (stats) => QueueMetrics.observe(stats, now)),
      () => queue.sweep(now - 3_600_000)
    )
  ).pipe(Effect.catch((error) => Effect.logWarning(`queue: housekeeping failed: ${ErrorText.ofError(error)}`)))

/**
 * The delivery running for as long as the layer's scope is open.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never, never, MailQueue.MailQueue | SmtpClient.SmtpClient> =>
  Layer.effectDiscard(Effect.forkScoped(run(options)))
