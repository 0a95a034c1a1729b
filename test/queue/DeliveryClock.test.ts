// The retry schedule on TestClock: an upstream that is down, then up. The queue (SQLite) and the
// delivery loop run on the test's clock; the upstream is an in-memory SmtpClient whose connect
// fails while it is "down", so no socket timer runs and every step is the clock's.
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Layer, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as ClientError from "../../src/client/ClientError.js"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as Backoff from "../../src/queue/Backoff.js"
import * as Delivery from "../../src/queue/Delivery.js"
import * as MailQueue from "../../src/queue/MailQueue.js"
import { sqliteQueue } from "../utils/queueDelivery.js"

const ok = Reply.make(250, "2.0.0", "Ok")

// the queue's group commit gives the event loop a real turn before it commits: after moving
// the clock, let real time pass for that turn before looking
const adjust = (duration: Duration.Input) =>
  Effect.andThen(
    TestClock.adjust(duration),
    Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
  )

// an upstream in memory: down (connect fails) until `up` is set; it records each message it takes
const upstream = (up: Ref.Ref<boolean>, taken: Ref.Ref<Array<string>>) =>
  Layer.succeed(
    SmtpClient.SmtpClient,
    SmtpClient.SmtpClient.of({
      connect: () =>
        Effect.gen(function* () {
          if (!(yield* Ref.get(up))) {
            return yield* new ClientError.UpstreamUnavailable({ reason: "connect", detail: "refused" })
          }
          const recipients: Array<string> = []
          const connection: SmtpClient.Connection = {
            extensions: new Map(),
            secure: false,
            mail: () => Effect.succeed(ok),
            rcpt: (to) => Effect.sync(() => (recipients.push(to), ok)),
            data: () => Effect.succeed(ok),
            dataReplies: (body) =>
              Stream.runCollect(body).pipe(
                Effect.orDie,
                Effect.andThen(Ref.update(taken, (all) => [...all, ...recipients])),
                Effect.as(recipients.map((address) => ({ address, reply: ok })))
              ),
            send: () => Effect.die("not used"),
            rset: Effect.void
          }
          return connection
        })
    })
  )

describe("Delivery on TestClock", () => {
  it.effect("upstream down: deferred, retried on the schedule, delivered once it is up", () =>
    Effect.gen(function* () {
      const up = yield* Ref.make(false)
      const taken = yield* Ref.make<Array<string>>([])
      const queue = yield* sqliteQueue
      const id = yield* queue.enqueue(
        {
          route: "up",
          mailFrom: "a@example.com",
          mailParameters: [],
          recipients: [{ address: "b@example.net", parameters: [] }]
        },
        Stream.make(new TextEncoder().encode("Subject: s\r\n\r\nhi\r\n"))
      )
      yield* Delivery.run({
        routes: { up: { host: "upstream.test" } },
        hostname: "mx.test",
        policy: Backoff.defaultPolicy,
        pollInterval: "1 second"
      }).pipe(
        Effect.provide(Layer.merge(Layer.succeed(MailQueue.MailQueue, queue), upstream(up, taken))),
        Effect.forkScoped
      )
      yield* adjust("1 second")
      const deferred = yield* queue.get(id)
      expect(deferred?.attempts).toBe(1)
      expect(deferred?.recipients[0]?.state).toBe("deferred")
      expect(deferred?.recipients[0]?.lastReply).toContain("451 4.4.1")
      // the first retry is 300 s after the failure: nothing before
      yield* Ref.set(up, true)
      yield* adjust("290 seconds")
      expect((yield* queue.get(id))?.attempts).toBe(1)
      expect(yield* Ref.get(taken)).toEqual([])
      yield* adjust("12 seconds")
      expect(yield* queue.get(id)).toBeUndefined()
      expect(yield* Ref.get(taken)).toEqual(["b@example.net"])
    }).pipe(Effect.scoped)
  )
})
