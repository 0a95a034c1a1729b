// The queue's delivery end to end, on real time and real sockets: a SQLite queue in a temp file,
// Delivery on a retry policy of fractions of a second, and an upstream of our own whose RCPT
// replies each test scripts. Each recipient is delivered, deferred and retried, or bounced on its
// own; the sender's notices (RFC 3464, read by Python's email package) come through the same
// queue as NOTIFY, RET and the null sender say; the counters move. Then Relay in queue mode: the
// client's 250 names the queued message, relaying is denied outside relayNetworks, and a store
// that fails gives 451 4.3.0, never a 250.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, Stream } from "effect"
import * as Relay from "../../src/handlers/Relay.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as Backoff from "../../src/queue/Backoff.js"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as QueueMetrics from "../../src/queue/QueueMetrics.js"
import { SmtpTest, TestTransport } from "../../src/testing/index.js"
import * as Q from "../utils/queueDelivery.js"
import { isWellFormed, parseReport, recipientGroups } from "../utils/queueReports.js"
import { skipWithout } from "../utils/tools.js"
import { freePort } from "../utils/upstreams.js"

// retries after 200 ms, then 400 ms, given up after 2 s
const policy = Backoff.make({ minBackoffMs: 200, maxBackoffMs: 400, lifetimeMs: 2000 })
const refused = (address: string) => (address.startsWith("refuse") ? Q.noSuchUser : undefined)

const counters = Effect.all({
  delivered: Effect.map(Metric.value(QueueMetrics.delivered), (s) => s.count),
  deferred: Effect.map(Metric.value(QueueMetrics.deferred), (s) => s.count),
  bounced: Effect.map(Metric.value(QueueMetrics.bounced), (s) => s.count)
})

// a queue with a spy on what goes into it, an upstream with `rcpt`'s replies, and the delivery
const setUp = (rcpt: Q.RcptPolicy, retry: Backoff.RetryPolicy = policy) =>
  Effect.gen(function* () {
    const spied = yield* Effect.flatMap(Q.sqliteQueue, Q.spyQueue)
    const up = yield* Q.upstream(rcpt)
    yield* Q.runDelivery(spied.queue, { routes: { upstream: Q.routeTo(up.port) }, policy: retry })
    return { ...spied, up }
  })

const emptied = (queue: MailQueue.Service) => Q.waitFor(queue.list, (all) => all.length === 0)

describe.skipIf(skipWithout("python3"))("Delivery", () => {
  it.live("delivers, retries and bounces each recipient on its own; the sender gets one notice", () =>
    Effect.gen(function* () {
      const before = yield* counters
      const { queue, submissions, up } = yield* setUp((address, tries) =>
        address.startsWith("once") && tries === 0 ? Q.tryLater : refused(address)
      )
      const body = Q.message("three")
      const id = yield* Q.enqueue(queue, {
        from: "sender@example.com",
        to: ["ok@example.net", "refuse@example.net", "once@example.net"],
        body
      })
      expect(yield* emptied(queue)).toEqual([])
      expect(yield* queue.get(id)).toBeUndefined()
      const received = yield* up.received
      // each delivered once, byte for byte; the refused one never; the deferred one at its retry
      expect(received.filter((r) => r.mailFrom !== "").map((r) => [r.rcptTos, r.text])).toEqual([
        [["ok@example.net"], body],
        [["once@example.net"], body]
      ])
      expect([...(yield* up.rcpts)].sort()).toEqual([
        "ok@example.net",
        "once@example.net",
        "once@example.net",
        "refuse@example.net",
        "sender@example.com"
      ])
      const notices = Q.notices(received)
      expect(notices.map((n) => n.rcptTos)).toEqual([["sender@example.com"]])
      expect((yield* submissions).map((s) => [s.mailFrom, s.bounce === true])).toEqual([
        ["sender@example.com", false],
        ["", true]
      ])
      const report = yield* parseReport(notices[0]!.data)
      expect(isWellFormed(report)).toBe(true)
      expect(report.headers["Subject"]).toBe("Undelivered Mail Returned to Sender")
      expect(report.headers["To"]).toBe("sender@example.com")
      expect(recipientGroups(report)).toEqual([
        expect.objectContaining({
          "Final-Recipient": "rfc822; refuse@example.net",
          Action: "failed",
          Status: "5.1.1",
          "Diagnostic-Code": "smtp; 550 5.1.1 No such user here"
        })
      ])
      // no RET: the original comes back whole
      expect(report.parts[2]?.type).toBe("message/rfc822")
      expect(report.parts[2]?.inner?.body).toBe("The body of three.\r\n")
      // byte for byte, up to the closing delimiter
      expect(notices[0]!.text).toContain(`\r\n\r\n${body}\r\n--`)
      // ok, once and the notice delivered; once deferred first; refuse bounced
      const after = yield* counters
      expect({
        delivered: after.delivered - before.delivered,
        deferred: after.deferred - before.deferred,
        bounced: after.bounced - before.bounced
      }).toEqual({ delivered: 3, deferred: 1, bounced: 1 })
    }).pipe(Effect.scoped)
  )

  it.live("upstream down: deferred with the reply; started: delivered at the next retry", () =>
    Effect.gen(function* () {
      const queue = yield* Q.sqliteQueue
      const port = yield* freePort
      const patient = Backoff.make({ minBackoffMs: 300, maxBackoffMs: 400, lifetimeMs: 20_000 })
      yield* Q.runDelivery(queue, { routes: { upstream: Q.routeTo(port) }, policy: patient })
      const id = yield* Q.enqueue(queue, { from: "sender@example.com", to: ["a@example.net"], body: Q.message("down") })
      const deferred = yield* Q.waitFor(queue.get(id), (m) => (m?.attempts ?? 0) >= 1)
      expect(deferred?.recipients).toMatchObject([
        {
          address: "a@example.net",
          state: "deferred",
          lastReply: expect.stringMatching(/^451 4\.4\.1 Upstream unavailable/)
        }
      ])
      expect((yield* queue.list).map((m) => m.id)).toEqual([id])
      const up = yield* Q.upstream(undefined, port)
      const received = yield* Q.waitFor(up.received, (all) => all.length > 0)
      expect(received.map((r) => [r.mailFrom, r.rcptTos])).toEqual([["sender@example.com", ["a@example.net"]]])
      expect(yield* emptied(queue)).toEqual([])
      // delivered, and no notice of the delay (no delay warning in this policy)
      expect((yield* up.received).length).toBe(1)
    }).pipe(Effect.scoped)
  )

  it.live("a flush (queue flush) tries an upstream found dead again at once, not when its pause ends", () =>
    Effect.gen(function* () {
      const queue = yield* Q.sqliteQueue
      const port = yield* freePort
      const quick = Backoff.make({ minBackoffMs: 100, maxBackoffMs: 100, lifetimeMs: 60_000 })
      yield* Q.runDelivery(queue, { routes: { upstream: Q.routeTo(port) }, policy: quick, deadRoute: "1 minute" })
      const id = yield* Q.enqueue(queue, { from: "sender@example.com", to: ["a@example.net"], body: Q.message("dead") })
      yield* Q.waitFor(queue.get(id), (m) => (m?.attempts ?? 0) >= 1)
      const up = yield* Q.upstream(undefined, port)
      // due again after 100 ms, but its route is paused for a minute: untried
      yield* Effect.sleep("700 millis")
      expect(yield* up.received).toEqual([])
      expect((yield* queue.get(id))?.attempts).toBe(1)
      expect(yield* queue.retry(undefined, Date.now())).toBe(1)
      const received = yield* Q.waitFor(up.received, (all) => all.length > 0)
      expect(received.map((r) => r.rcptTos)).toEqual([["a@example.net"]])
      expect(yield* queue.flushedAt).toBeGreaterThan(0)
    }).pipe(Effect.scoped)
  )

  it.live("a recipient still refused 450 at the end of the lifetime is bounced with 4.4.7", () =>
    Effect.gen(function* () {
      const short = Backoff.make({ minBackoffMs: 200, maxBackoffMs: 400, lifetimeMs: 1000 })
      const { queue, up } = yield* setUp((address) => (address.startsWith("busy") ? Q.tryLater : undefined), short)
      const id = yield* Q.enqueue(queue, { from: "sender@example.com", to: ["busy@example.net"], body: Q.message("x") })
      const createdAt = (yield* queue.get(id))!.createdAt
      expect(yield* Q.waitFor(queue.list, (all) => all.length === 0, "4 seconds")).toEqual([])
      // tried until the lifetime ran out, then given up
      expect((yield* up.rcpts).filter((a) => a === "busy@example.net").length).toBeGreaterThanOrEqual(3)
      const notices = Q.notices(yield* up.received)
      expect(notices.map((n) => n.rcptTos)).toEqual([["sender@example.com"]])
      expect(notices[0]!.at).toBeGreaterThanOrEqual(createdAt + 1000)
      const report = yield* parseReport(notices[0]!.data)
      expect(isWellFormed(report)).toBe(true)
      expect(recipientGroups(report)).toEqual([
        expect.objectContaining({
          "Final-Recipient": "rfc822; busy@example.net",
          Action: "failed",
          Status: "4.4.7",
          "Diagnostic-Code": "smtp; 450 4.2.1 Mailbox busy, try later"
        })
      ])
    }).pipe(Effect.scoped)
  )

  it.live("no notice for NOTIFY=NEVER, to the null sender, or about a notice that bounced", () =>
    Effect.gen(function* () {
      const { queue, submissions, up } = yield* setUp(refused)
      const never = { address: "refuse-1@example.net", parameters: [{ keyword: "NOTIFY", value: "NEVER" }] }
      yield* Q.enqueue(queue, { from: "a@example.com", to: ["ok-a@example.net", never], body: Q.message("never") })
      yield* Q.enqueue(queue, { from: "", to: ["refuse-2@example.net"], body: Q.message("null") })
      // its notice goes to refuse-sender@, who is refused too
      yield* Q.enqueue(queue, { from: "refuse-sender@example.com", to: ["refuse-3@example.net"], body: Q.message("b") })
      expect(yield* emptied(queue)).toEqual([])
      const received = yield* up.received
      expect(received.map((r) => [r.mailFrom, r.rcptTos])).toEqual([["a@example.com", ["ok-a@example.net"]]])
      // the one notice queued was tried once, and bounced without a notice of its own
      expect((yield* submissions).map((s) => [s.mailFrom, s.recipients.map((r) => r.address)])).toEqual([
        ["a@example.com", ["ok-a@example.net", "refuse-1@example.net"]],
        ["", ["refuse-2@example.net"]],
        ["refuse-sender@example.com", ["refuse-3@example.net"]],
        ["", ["refuse-sender@example.com"]]
      ])
      expect((yield* up.rcpts).filter((a) => a === "refuse-sender@example.com")).toHaveLength(1)
    }).pipe(Effect.scoped)
  )

  it.live("NOTIFY=SUCCESS: a 'relayed' notice when the upstream offers no DSN; none when it takes NOTIFY on", () =>
    Effect.gen(function* () {
      const success = (address: string) => ({ address, parameters: [{ keyword: "NOTIFY", value: "SUCCESS,FAILURE" }] })
      const run = (dsn: boolean) =>
        Effect.gen(function* () {
          const spied = yield* Effect.flatMap(Q.sqliteQueue, Q.spyQueue)
          const up = yield* Q.upstream(refused, 0, dsn)
          yield* Q.runDelivery(spied.queue, { routes: { upstream: Q.routeTo(up.port) }, policy })
          yield* Q.enqueue(spied.queue, {
            from: "asks@example.com",
            to: [success("ok-1@example.net"), "ok-2@example.net", success("refuse@example.net")],
            mailParameters: [{ keyword: "ENVID", value: "track-1" }],
            body: Q.message("tracked", "A line the notice leaves out.")
          })
          expect(yield* emptied(spied.queue)).toEqual([])
          return Q.notices(yield* up.received)
        })
      // no DSN upstream: the failure notice, and a success notice for ok-1 (ok-2 did not ask)
      const plain = yield* run(false)
      expect(plain).toHaveLength(2)
      const reports = yield* Effect.forEach(plain, (n) => parseReport(n.data))
      const successful = reports.find((r) => r.headers["Subject"] === "Successful Mail Delivery Report")!
      expect(isWellFormed(successful)).toBe(true)
      expect(successful.headers["To"]).toBe("asks@example.com")
      expect(successful.parts[1]?.groups?.[0]?.["Original-Envelope-Id"]).toBe("track-1")
      expect(recipientGroups(successful)).toEqual([
        expect.objectContaining({
          "Final-Recipient": "rfc822; ok-1@example.net",
          Action: "relayed",
          Status: "2.0.0",
          "Remote-MTA": "dns; 127.0.0.1"
        })
      ])
      // a success returns the headers only
      expect(successful.parts[2]?.type).toBe("text/rfc822-headers")
      expect(successful.parts[2]?.text).toContain("Subject: tracked")
      expect(successful.parts[2]?.text).not.toContain("A line the notice leaves out.")
      expect(reports.map((r) => r.headers["Subject"]).sort()).toEqual([
        "Successful Mail Delivery Report",
        "Undelivered Mail Returned to Sender"
      ])
      // a DSN upstream got NOTIFY with each RCPT and reports successes itself: only the failure
      const withDsn = yield* run(true)
      expect(withDsn).toHaveLength(1)
      expect((yield* parseReport(withDsn[0]!.data)).headers["Subject"]).toBe("Undelivered Mail Returned to Sender")
    }).pipe(Effect.scoped)
  )

  it.live("RET=HDRS returns the header section only; RET=FULL returns a small message whole", () =>
    Effect.gen(function* () {
      const { queue, up } = yield* setUp(refused)
      const secret = "A body line the sender asked not to see again."
      yield* Q.enqueue(queue, {
        from: "hdrs@example.com",
        to: ["refuse@example.net"],
        mailParameters: [{ keyword: "RET", value: "HDRS" }],
        body: Q.message("hdrs", secret)
      })
      yield* Q.enqueue(queue, {
        from: "full@example.com",
        to: ["refuse@example.net"],
        mailParameters: [
          { keyword: "RET", value: "FULL" },
          { keyword: "ENVID", value: "env+2B42" }
        ],
        body: Q.message("full", "Line one.\r\nLine two.")
      })
      expect(yield* emptied(queue)).toEqual([])
      const notices = Q.notices(yield* up.received)
      const to = (address: string) => notices.find((n) => n.rcptTos.includes(address))!
      const hdrs = yield* parseReport(to("hdrs@example.com").data)
      expect(isWellFormed(hdrs)).toBe(true)
      expect(hdrs.parts[2]?.type).toBe("text/rfc822-headers")
      expect(hdrs.parts[2]?.text).toContain("Subject: hdrs")
      expect(hdrs.parts[2]?.text).not.toContain(secret)
      expect(to("hdrs@example.com").text).not.toContain(secret)
      const full = yield* parseReport(to("full@example.com").data)
      expect(isWellFormed(full)).toBe(true)
      expect(full.parts[2]?.type).toBe("message/rfc822")
      expect(full.parts[2]?.inner?.headers["Subject"]).toBe("full")
      expect(full.parts[2]?.inner?.body).toBe("Line one.\r\nLine two.\r\n")
      // ENVID is xtext: "+2B" is "+"
      expect(full.parts[1]?.groups?.[0]?.["Original-Envelope-Id"]).toBe("env+42")
      expect(notices).toHaveLength(2)
    }).pipe(Effect.scoped)
  )

  it.live("with a delay warning set, a deferred message's sender is warned once", () =>
    Effect.gen(function* () {
      const warning = Backoff.make({ minBackoffMs: 200, maxBackoffMs: 400, lifetimeMs: 5000, delayWarningMs: 300 })
      // refused at the tries made at about 0, 200, 600 (warned), 1000, 1400 and 1800 ms; taken at
      // about 2200: the warning is not sent again at any of the later tries
      const { queue, up } = yield* setUp(
        (address, tries) => (address.startsWith("slow") && tries < 6 ? Q.tryLater : undefined),
        warning
      )
      const id = yield* Q.enqueue(queue, { from: "sender@example.com", to: ["slow@example.net"], body: Q.message("s") })
      const warned = yield* Q.waitFor(queue.get(id), (m) => m?.warned === true)
      expect(warned?.recipients[0]?.state).toBe("deferred")
      expect(yield* emptied(queue)).toEqual([])
      const received = yield* up.received
      expect(Q.deliveredTo(received, "slow@example.net")).toHaveLength(1)
      expect((yield* up.rcpts).filter((a) => a === "slow@example.net")).toHaveLength(7)
      const notices = Q.notices(received)
      expect(notices.map((n) => n.rcptTos)).toEqual([["sender@example.com"]])
      const report = yield* parseReport(notices[0]!.data)
      expect(isWellFormed(report)).toBe(true)
      expect(report.headers["Subject"]).toBe("Delayed Mail (still being retried)")
      expect(report.parts[2]?.type).toBe("text/rfc822-headers")
      expect(recipientGroups(report)).toEqual([
        expect.objectContaining({
          "Final-Recipient": "rfc822; slow@example.net",
          Action: "delayed",
          Status: "4.2.1",
          "Will-Retry-Until": expect.stringMatching(/\d{2}:\d{2}:\d{2} \+0000$/)
        })
      ])
    }).pipe(Effect.scoped)
  )
})

// --- Relay in queue mode ------------------------------------------------------------------------

const loopback = { remote: { address: "127.0.0.1", port: 40000 } }

// an in-memory server whose handler is Relay in queue mode on `queue`
const queueRelay = (queue: MailQueue.Service, port: number) =>
  Effect.gen(function* () {
    const handler = yield* Layer.build(
      Relay.layer({ upstream: Q.routeTo(port), mode: "queue", route: "upstream", xPeer: true }).pipe(
        Layer.provide(Layer.merge(Layer.succeed(MailQueue.MailQueue, queue), NodeSmtpClient.layer))
      )
    )
    return yield* SmtpTest.server({ hostname: "relay.test" }).pipe(Effect.provide(handler))
  })

// one message through the client: every reply from MAIL on
const send = (client: TestTransport.TestClient, to: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    yield* client.reply
    yield* SmtpTest.command(client, "EHLO client.test")
    const replies = [yield* SmtpTest.command(client, "MAIL FROM:<sender@example.com>")]
    for (const address of to) replies.push(yield* SmtpTest.command(client, `RCPT TO:<${address}>`))
    if (replies.at(-1)!.code !== 250) return replies
    replies.push(yield* SmtpTest.command(client, "DATA"))
    replies.push(yield* SmtpTest.command(client, `${Q.message("relayed").replace(/\r\n$/, "")}\r\n.`))
    return replies
  })

const said = (reply: {
  readonly code: number
  readonly enhanced?: string | undefined
  readonly lines: ReadonlyArray<string>
}) => `${reply.code} ${reply.enhanced ?? ""} ${reply.lines.join(" ")}`

describe("Relay in queue mode", () => {
  it.live("answers 250 once the message is queued, naming it; Delivery passes it on", () =>
    Effect.gen(function* () {
      const queue = yield* Q.sqliteQueue
      const up = yield* Q.upstream()
      const server = yield* queueRelay(queue, up.port)
      const replies = yield* send(yield* server.connectWith(loopback), ["a@example.net", "b@example.net"])
      const done = said(replies.at(-1)!)
      expect(done).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/)
      const id = done.split(" ").at(-1)!
      const queued = yield* queue.get(id)
      expect(queued).toMatchObject({
        route: "upstream",
        mailFrom: "sender@example.com",
        recipients: [
          { address: "a@example.net", state: "queued" },
          { address: "b@example.net", state: "queued" }
        ]
      })
      yield* Q.runDelivery(queue, { routes: { upstream: Q.routeTo(up.port) }, policy })
      const received = yield* Q.waitFor(up.received, (all) => all.length > 0)
      expect(received.map((r) => r.rcptTos)).toEqual([["a@example.net", "b@example.net"]])
      // what the relay adds is stored with the message: our Received:, then X-Peer
      expect(received[0]!.text).toMatch(/^Received: from client\.test [^]*\r\nX-Peer: 127\.0\.0\.1\r\nFrom: <sender/)
      expect(received[0]!.text.endsWith(Q.message("relayed"))).toBe(true)
      expect(yield* emptied(queue)).toEqual([])
    }).pipe(Effect.scoped)
  )

  it.live("refuses RCPT 550 5.7.1 to a client outside relayNetworks, and queues nothing", () =>
    Effect.gen(function* () {
      const queue = yield* Q.sqliteQueue
      const server = yield* queueRelay(queue, 9)
      const replies = yield* send(yield* server.connectWith({ remote: { address: "192.0.2.1", port: 40000 } }), [
        "a@example.net"
      ])
      expect(replies.map(said)).toEqual([expect.stringMatching(/^250 2\.1\.0/), expect.stringMatching(/^550 5\.7\.1/)])
      expect(yield* queue.list).toEqual([])
    }).pipe(Effect.scoped)
  )

  it.live("answers 451 4.3.0 when the store fails, never 250; the next message goes in once it works", () =>
    Effect.gen(function* () {
      const real = yield* Q.sqliteQueue
      let failing = true
      const calls: Array<string> = []
      // reads the body as the real store does, then cannot commit it
      const flaky = MailQueue.MailQueue.of({
        ...real,
        enqueue: (submission, body) =>
          failing
            ? Effect.andThen(
                Stream.runDrain(body),
                Effect.sync(() => calls.push("failed")).pipe(
                  Effect.andThen(Effect.fail(new MailQueue.QueueError({ operation: "commit" })))
                )
              )
            : Effect.tap(real.enqueue(submission, body), () => Effect.sync(() => calls.push("stored")))
      })
      const server = yield* queueRelay(flaky, 9)
      const client = yield* server.connectWith(loopback)
      const first = yield* send(client, ["a@example.net"])
      expect(said(first.at(-1)!)).toMatch(/^451 4\.3\.0 /)
      expect(yield* real.list).toEqual([])
      failing = false
      expect(said(yield* SmtpTest.command(client, "RSET"))).toMatch(/^250/)
      const replies = [yield* SmtpTest.command(client, "MAIL FROM:<sender@example.com>")]
      replies.push(yield* SmtpTest.command(client, "RCPT TO:<a@example.net>"))
      replies.push(yield* SmtpTest.command(client, "DATA"))
      replies.push(yield* SmtpTest.command(client, `${Q.message("again")}.`))
      expect(said(replies.at(-1)!)).toMatch(/^250 2\.0\.0 Ok: queued as /)
      expect(calls).toEqual(["failed", "stored"])
      expect((yield* real.list).map((m) => m.recipients.map((r) => r.address))).toEqual([["a@example.net"]])
    }).pipe(Effect.scoped)
  )
})
