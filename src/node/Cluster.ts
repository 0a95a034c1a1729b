/**
 * Several worker processes sharing the listeners (`node:cluster`): the primary forks them,
 * restarts one that dies, and when interrupted (SIGINT/SIGTERM in the command) sends SIGTERM to
 * every worker and waits for each to finish its graceful shutdown. Workers write to the
 * primary's stdout and stderr, and the primary reads their metrics over IPC (`workersMetrics`),
 * so logs and metrics stay in one place. Each worker is the whole server: one event loop per
 * core.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Cluster from "node:cluster"
import * as Os from "node:os"
import * as MetricsText from "../server/MetricsText.js"

/**
 * Is this process a worker forked by `primary`?
 *
 * @since 0.1.0
 * @category predicates
 */
export const isWorker = (): boolean => Cluster.default.isWorker

/**
 * `auto`: one worker per core.
 *
 * @since 0.1.0
 * @category constructors
 */
export const workerCount = (text: string): number | undefined => {
  if (text === "auto") return Os.availableParallelism()
  return /^[1-9]\d{0,3}$/.test(text) ? Number(text) : undefined
}

/**
 * Runs `count` workers with this process's own command line until interrupted, then stops
 * them gracefully.
 *
 * @since 0.1.0
 * @category constructors
 */
export const primary = (count: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const cluster = Cluster.default
    // the workers accept on the shared sockets themselves and the kernel spreads connections
    // between them; Node's default on Linux (round robin) has the primary accept every
    // connection and pass it over IPC, which costs more than serving it
    cluster.schedulingPolicy = cluster.SCHED_NONE
    let stopping = false
    let allExited = () => resume(Effect.void)
    const live = new Set<Cluster.Worker>()
    const fork = () => {
      const worker = cluster.fork()
      live.add(worker)
      worker.on("exit", (code, signal) => {
        live.delete(worker)
        if (stopping) {
          if (live.size === 0) allExited()
          return
        }
        // a crashed worker is replaced, after a pause so that a broken setup does not spin
        process.stderr.write(
          `effect-smtpd: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`
        )
        setTimeout(() => stopping || fork(), 1000)
      })
    }
    for (let i = 0; i < count; i++) fork()
    // SIGINT/SIGTERM interrupt the program (NodeRuntime.runMain): the workers get SIGTERM and
    // the primary waits until every one of them has finished its graceful shutdown
    return Effect.callback<void>((done) => {
      stopping = true
      allExited = () => done(Effect.void)
      if (live.size === 0) return done(Effect.void)
      for (const worker of live) worker.process.kill("SIGTERM")
    })
  })

// the primary asks each worker for its metrics over the IPC channel
const metricsRequest = "effect-smtpd:metrics"
const metricsReply = "effect-smtpd:metrics-reply"

interface MetricsMessage {
  readonly type: string
  readonly id: number
  readonly samples?: ReadonlyArray<MetricsText.Sample>
}

const isMetricsMessage = (message: unknown, type: string): message is MetricsMessage =>
  typeof message === "object" && message !== null && (message as { readonly type?: unknown }).type === type

/**
 * In a worker, while the scope is open: answers the primary's requests for this process's
 * metrics.
 *
 * @since 0.1.0
 * @category constructors
 */
export const answerMetrics: Effect.Effect<void, never, Scope.Scope> = Effect.asVoid(
  Effect.acquireRelease(
    Effect.sync(() => {
      const listener = (message: unknown) => {
        if (!isMetricsMessage(message, metricsRequest)) return
        // with a callback: a channel closed meanwhile (the primary is stopping) is no error event
        Effect.runPromise(MetricsText.snapshot).then((samples) =>
          process.send?.(
            { type: metricsReply, id: message.id, samples } satisfies MetricsMessage,
            undefined,
            {},
            ignore
          )
        )
      }
      process.on("message", listener)
      return listener
    }),
    (listener) => Effect.sync(() => process.off("message", listener))
  )
)

let nextRequest = 0

// In the primary: each worker's last reading, and the counters and histograms of the workers
// that have gone (their last reading), so that a sum never goes back when a worker dies
const lastReading = new Map<number, ReadonlyArray<MetricsText.Sample>>()
let retired: ReadonlyArray<MetricsText.Sample> = []
let watching = false

const watchExits = () => {
  if (watching) return
  watching = true
  Cluster.default.on("exit", (worker) => {
    const last = lastReading.get(worker.id)
    lastReading.delete(worker.id)
    if (last !== undefined) retired = MetricsText.merge([retired, MetricsText.cumulative(last)])
  })
}

// one worker's metrics, or its last reading when it does not answer within a second (busy,
// starting or stopping)
const ask = (worker: Cluster.Worker, id: number) =>
  new Promise<ReadonlyArray<MetricsText.Sample>>((resolve) => {
    const done = (samples: ReadonlyArray<MetricsText.Sample> | undefined) => {
      clearTimeout(timer)
      worker.off("message", onMessage)
      if (samples !== undefined) lastReading.set(worker.id, samples)
      resolve(samples ?? lastReading.get(worker.id) ?? [])
    }
    const onMessage = (message: unknown) => {
      if (isMetricsMessage(message, metricsReply) && message.id === id) {
        done(MetricsText.revive(message.samples ?? []))
      }
    }
    const timer = setTimeout(() => done(undefined), 1000)
    worker.on("message", onMessage)
    // with a callback: a worker gone since the count is no error event, just no answer
    worker.send({ type: metricsRequest, id } satisfies MetricsMessage, undefined, (error) => error && done(undefined))
  })

/**
 * In the primary: every worker's metrics, summed, with the counters and histograms of workers
 * that have exited kept at their last reading (a counter never goes back).
 *
 * @since 0.1.0
 * @category constructors
 */
export const workersMetrics = (): Promise<ReadonlyArray<MetricsText.Sample>> => {
  watchExits()
  const id = ++nextRequest
  const workers = Object.values(Cluster.default.workers ?? {}).filter(
    (worker): worker is Cluster.Worker => worker !== undefined && worker.isConnected()
  )
  return Promise.all(workers.map((worker) => ask(worker, id))).then((readings) =>
    MetricsText.merge([retired, ...readings])
  )
}

const ignore = () => {}
