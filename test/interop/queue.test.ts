// The mail queue as an operator trusts it (issue 15), on SQLite: the built command relaying in
// queue mode in a child process, killed with SIGKILL and started again on the same file, with
// an upstream in this process that counts what reaches it by each message's subject.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Path from "node:path"
import { builtCommand } from "../utils/command.js"
import { tempDir } from "../utils/queueDelivery.js"
import * as QP from "../utils/queueProcess.js"
import { isWellFormed, parseReport, recipientGroups } from "../utils/queueReports.js"
import { freePort } from "../utils/upstreams.js"

const main = builtCommand()

const queued = /^250 2\.0\.0 Ok: queued as \S+$/

// a queue-mode PureProxy on `queue` relaying to 127.0.0.1:`upstream`
const proxy = (queue: string, upstream: number, more: ReadonlyArray<string> = []) =>
  QP.relay(main, [
    "-c",
    "PureProxy",
    "--relay-mode",
    "queue",
    "--queue",
    queue,
    "--size",
    "0",
    ...more,
    "127.0.0.1:0",
    `127.0.0.1:${upstream}`
  ])

const numbered = (prefix: string, count: number) => Array.from({ length: count }, (_, n) => QP.numbered(prefix, n))

// how many subjects of `prefix-0 … prefix-(count-1)` arrived once, more than once, not at all
const tally = (took: ReadonlyArray<QP.Took>, prefix: string, count: number) => {
  const counts = QP.countBySubject(took)
  const seen = Array.from({ length: count }, (_, n) => counts.get(`${prefix}-${n}`) ?? 0)
  return {
    distinct: seen.filter((c) => c > 0).length,
    duplicates: seen.reduce((sum, c) => sum + Math.max(0, c - 1), 0),
    missing: seen.filter((c) => c === 0).length,
    strangers: [...counts.keys()].filter((s) => !s.startsWith(`${prefix}-`)).length
  }
}

describe("the queue across kill -9 (SQLite, the built command)", () => {
  it.live(
    "keeps 500 messages accepted with the upstream down, and delivers each once after a restart",
    () =>
      Effect.gen(function* () {
        const queue = Path.join(yield* tempDir, "q.db")
        const port = yield* freePort
        // no retry within the test until the flush: the first tries fail at once and settle
        const first = yield* proxy(queue, port, ["--retry-min", "3600"])
        const replies = yield* QP.send(first.port, numbered("down", 500), 16)
        expect(replies.filter((r) => !queued.test(r))).toEqual([])
        // every message stored; the upstream found down at the first tries, the others wait untried
        // (a dead route); a lease a try left at the kill is released at the restart
        const stored = yield* Effect.gen(function* () {
          for (let i = 0; i < 100; i++) {
            const listed = yield* QP.queueList(main, queue)
            if (listed.length === 500 && listed.some((m) => m.attempts === 1)) return true
            yield* Effect.sleep("200 millis")
          }
          return false
        })
        expect(stored).toBe(true)
        yield* first.kill("SIGKILL")

        const listed = yield* QP.queueList(main, queue)
        expect(listed.length).toBe(500)
        expect(new Set(listed.map((m) => m.id)).size).toBe(500)

        const upstream = yield* QP.upstream({ port })
        expect(yield* QP.queueCommand(main, queue, ["flush"])).toEqual({ flush: 500 })
        yield* proxy(queue, port, ["--retry-min", "1"])
        yield* QP.eventually(() => upstream.took().length >= 500, 60_000)
        // a moment more: a duplicate would come now
        yield* Effect.sleep("1 second")
        expect(tally(upstream.took(), "down", 500)).toEqual({ distinct: 500, duplicates: 0, missing: 0, strangers: 0 })
        const left = yield* QP.queueList(main, queue)
        expect(left).toEqual([])
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "delivers every message at least once after a kill -9 in the middle of deliveries",
    () =>
      Effect.gen(function* () {
        const queue = Path.join(yield* tempDir, "q.db")
        // a slow upstream: 8 deliveries (the delivery's concurrency) take 300 ms each
        const upstream = yield* QP.upstream({ delay: 300 })
        const first = yield* proxy(queue, upstream.port, ["--retry-min", "1"])
        const replies = yield* QP.send(first.port, numbered("flight", 200), 16)
        expect(replies.filter((r) => !queued.test(r))).toEqual([])
        yield* QP.eventually(() => upstream.took().length >= 40, 60_000)
        yield* first.kill("SIGKILL")
        const atKill = upstream.took().length
        const remaining = (yield* QP.queueList(main, queue)).length
        expect(remaining).toBeGreaterThan(0)

        yield* QP.queueCommand(main, queue, ["flush"])
        yield* proxy(queue, upstream.port, ["--retry-min", "1"])
        yield* QP.eventually(() => tally(upstream.took(), "flight", 200).missing === 0, 60_000)
        yield* Effect.sleep("1 second")
        const result = tally(upstream.took(), "flight", 200)
        console.log(
          `kill -9 in flight: ${atKill} delivered before the kill, ${remaining} in the queue after it, ` +
            `${result.duplicates} delivered twice`
        )
        expect(result).toMatchObject({ distinct: 200, missing: 0, strangers: 0 })
        // only those in flight at the kill (at most the 8 of one round) may come twice
        expect(result.duplicates).toBeLessThanOrEqual(8)
        // nothing left: the messages the killed process held (leased) are taken again at the
        // restart, not after their 10-minute lease (a SQLite queue has one process)
        expect(yield* QP.queueList(main, queue)).toEqual([])
      }).pipe(Effect.scoped),
    180_000
  )
})

describe("the queue's bounces and big messages (SQLite, the built command)", () => {
  it.live(
    "bounces a recipient refused with 550 to the sender, and delivers the others once",
    () =>
      Effect.gen(function* () {
        const queue = Path.join(yield* tempDir, "q.db")
        const upstream = yield* QP.upstream({ refuse: (address) => address.startsWith("refuse") })
        const relay = yield* proxy(queue, upstream.port, ["--retry-min", "1"])
        const to = ["a@example.net", "refuse@example.net", "b@example.net"]
        const [reply] = yield* QP.send(relay.port, [QP.numbered("bounce", 0, to)])
        expect(reply).toMatch(queued)

        yield* QP.eventually(() => upstream.took().length >= 2, 20_000)
        yield* Effect.sleep("1 second")
        const took = upstream.took()
        const delivered = took.filter((t) => t.mailFrom === "sender@example.com")
        expect(delivered.map((t) => [t.subject, t.rcptTos])).toEqual([["bounce-0", ["a@example.net", "b@example.net"]]])
        const notices = took.filter((t) => t.mailFrom === "")
        expect(notices.map((t) => t.rcptTos)).toEqual([["sender@example.com"]])
        const report = yield* parseReport(notices[0]!.bytes!)
        expect(isWellFormed(report)).toBe(true)
        expect(recipientGroups(report)).toEqual([
          expect.objectContaining({
            "Final-Recipient": "rfc822; refuse@example.net",
            Action: "failed",
            Status: "5.1.1"
          })
        ])
        expect(yield* QP.queueList(main, queue)).toEqual([])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "takes 100 MiB into the queue within 150 MiB of RSS and delivers it byte for byte",
    () =>
      Effect.gen(function* () {
        const queue = Path.join(yield* tempDir, "q.db")
        const port = yield* freePort
        // the upstream down while the message comes in: what is measured first is the storing
        const relay = yield* proxy(queue, port, ["--retry-min", "3600"])
        const header = "From: <sender@example.com>\r\nSubject: big\r\n\r\n"
        const bodySize = 100 * 1024 * 1024
        const [reply] = yield* QP.send(relay.port, [
          { from: "sender@example.com", to: ["rcpt@example.net"], content: { header, bodySize } }
        ])
        expect(reply).toMatch(queued)
        const stored = (yield* QP.memory(relay.pid)).peak
        const upstream = yield* QP.upstream({ port })
        yield* QP.queueCommand(main, queue, ["flush"])
        expect(yield* QP.eventually(() => upstream.took().length >= 1, 60_000)).toBe(true)
        const delivered = (yield* QP.memory(relay.pid)).peak
        console.log(
          `100 MiB through the queue: the relay's peak RSS ${QP.mib(stored)} storing, ${QP.mib(delivered)} delivering`
        )
        expect(stored).toBeLessThanOrEqual(150 * 1024)
        expect(delivered).toBeLessThanOrEqual(150 * 1024)

        const [took] = upstream.took()
        const hash = Crypto.createHash("sha256").update(QP.madeUpBody(bodySize)).digest("hex")
        expect(took!.header.endsWith(header)).toBe(true)
        expect(took!.size).toBe(took!.header.length + bodySize)
        expect(took!.bodyHash).toBe(hash)
      }).pipe(Effect.scoped),
    180_000
  )
})
