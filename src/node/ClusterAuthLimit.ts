/**
 * The AUTH rate limit shared by the workers of `--workers` (node:cluster): each worker reports
 * every failed attempt to the primary, which counts them all and tells every worker which client
 * to refuse until when. A worker also counts its own failures, so it refuses at once; the
 * primary's word covers the attempts other workers saw.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Cluster from "node:cluster"
import { AuthRateLimit, type Link } from "../server/AuthRateLimit.js"
import * as Networks from "../server/Networks.js"

const failure = "effect-smtpd:auth-failure"
const refusal = "effect-smtpd:auth-refusal"

interface Message {
  readonly type: string
  readonly key: string
  readonly at: number
}

const isMessage = (message: unknown, type: string): message is Message =>
  typeof message === "object" && message !== null && (message as { readonly type?: unknown }).type === type

const ignore = () => {}

/**
 * A worker's link to the primary's count.
 *
 * @since 0.1.0
 * @category constructors
 */
export const workerLink = (): Link => ({
  report: (key, at) => process.send?.({ type: failure, key, at } satisfies Message, undefined, {}, ignore),
  subscribe: (refuse) =>
    process.on("message", (message: unknown) => {
      if (isMessage(message, refusal)) refuse(message.key, message.at)
    })
})

/**
 * In the primary, while the scope is open: counts the failures the workers report and tells
 * them all when a client is to be refused.
 *
 * @since 0.1.0
 * @category constructors
 */
export const primary = (options: {
  readonly attempts: number
  readonly windowMs: number
}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(
    Effect.acquireRelease(
      Effect.sync(() => {
        // the workers check trusted networks themselves: what they report counts
        const count = new AuthRateLimit({ ...options, trusted: [] as ReadonlyArray<Networks.Network> })
        const listener = (_worker: Cluster.Worker, message: unknown) => {
          if (!isMessage(message, failure)) return
          const until = count.count(message.key, message.at)
          if (until === undefined) return
          for (const worker of Object.values(Cluster.default.workers ?? {})) {
            if (worker?.isConnected() === true) {
              worker.send({ type: refusal, key: message.key, at: until } satisfies Message, undefined, ignore)
            }
          }
        }
        Cluster.default.on("message", listener)
        return listener
      }),
      (listener) => Effect.sync(() => Cluster.default.off("message", listener))
    )
  )
