// Reports.send: which notices a delivery attempt calls for and how they are queued. A stub queue
// keeps what is enqueued and serves the original in pieces; Python's email package reads the
// notices. NOTIFY per recipient, never to <> or about a notice, RET and the size limit on what is
// returned (read no further than the header section when only that is returned), the envelope
// of a notice (from <>, same route, marked a bounce, SMTPUTF8/8BITMIME when needed).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Framer from "../../src/protocol/Framer.js"
import type * as Parameters from "../../src/protocol/Parameters.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as Reports from "../../src/queue/Reports.js"
import { isWellFormed, parseReport, recipientGroups } from "../utils/queueReports.js"
import { skipWithout } from "../utils/tools.js"

const encoder = new TextEncoder()
const headers = "From: <alice@example.com>\r\nTo: <bob@example.net>\r\nSubject: Report me\r\n"
const body = "A body line that only a whole return shows.\r\n"
const original = encoder.encode(`${headers}\r\n${body}`)

interface Sent {
  readonly submission: MailQueue.Submission
  readonly bytes: Uint8Array
}

const unused = Effect.die(new Error("not used by Reports"))

// a queue that keeps what is enqueued, and serves `pieces` as every message's body
const stubQueue = (pieces: Stream.Stream<Uint8Array, MailQueue.QueueError>, enqueueFails = false) => {
  const sent: Array<Sent> = []
  const queue = MailQueue.MailQueue.of({
    enqueue: (submission, content) =>
      enqueueFails
        ? Effect.fail(new MailQueue.QueueError({ operation: "commit" }))
        : Effect.map(Stream.runCollect(content), (chunks) => {
            sent.push({ submission, bytes: new Uint8Array(Framer.concat(chunks)) })
            return `N${sent.length}`
          }),
    body: () => pieces,
    claim: () => unused,
    settle: () => unused,
    list: unused,
    get: () => unused,
    retry: () => unused,
    flushedAt: unused,
    remove: () => unused,
    stats: unused,
    sweep: () => unused,
    recover: unused
  })
  return { queue, sent }
}

// the original in pieces of 7 bytes: the end of its header section falls inside one
const inPieces = (bytes: Uint8Array) =>
  Stream.fromIterable(Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7)))

const recipient = (index: number, address: string, parameters: Parameters.Parameters = []) => ({
  index,
  address,
  parameters,
  state: "deferred" as const,
  lastReply: undefined
})

const queued = (overrides: Partial<MailQueue.QueuedMessage> = {}): MailQueue.QueuedMessage => ({
  id: "M1",
  route: "mx:25",
  mailFrom: "alice@example.com",
  mailParameters: [],
  recipients: [recipient(0, "bob@example.net")],
  size: original.length,
  createdAt: Date.UTC(2026, 0, 1),
  attempts: 2,
  nextAttempt: 0,
  bounce: false,
  warned: false,
  ...overrides
})

const options = { hostname: "relay.test", now: Date.UTC(2026, 0, 2), willRetryUntil: Date.UTC(2026, 0, 6) }
const refused = Reply.make(550, "5.1.1", "No such user")
const later = Reply.make(450, "4.2.1", "Try later")

const failed = (message: MailQueue.QueuedMessage, index = 0, status?: string): Reports.Entry => ({
  recipient: message.recipients[index]!,
  action: "failed",
  reply: refused,
  status
})

const delayed = (message: MailQueue.QueuedMessage, index: number): Reports.Entry => ({
  recipient: message.recipients[index]!,
  action: "delayed",
  reply: later
})

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

describe.skipIf(skipWithout("python3"))("Reports.send: the notices", () => {
  it.effect("a failure notice goes from <> to the sender by the same route, marked a bounce, the original whole", () =>
    Effect.gen(function* () {
      const { queue, sent } = stubQueue(inPieces(original))
      const message = queued()
      yield* Reports.send(queue, options, message, [failed(message)])
      expect(sent.map((s) => s.submission)).toEqual([
        {
          route: "mx:25",
          mailFrom: "",
          mailParameters: [],
          recipients: [{ address: "alice@example.com", parameters: [] }],
          bounce: true
        }
      ])
      const report = yield* parseReport(sent[0]!.bytes)
      expect(isWellFormed(report)).toBe(true)
      expect(report.headers["From"]).toBe("Mail Delivery System <MAILER-DAEMON@relay.test>")
      expect(recipientGroups(report)).toEqual([
        expect.objectContaining({ "Final-Recipient": "rfc822; bob@example.net", Action: "failed", Status: "5.1.1" })
      ])
      expect(report.parts[2]?.type).toBe("message/rfc822")
      expect(text(sent[0]!.bytes)).toContain(`\r\n\r\n${text(original)}\r\n--`)
    })
  )

  it.effect("RET=HDRS returns the header section, the body read no further than its end", () =>
    Effect.gen(function* () {
      // a body that fails past the header section: reading it whole would fail the notice
      const pieces = Stream.concat(
        inPieces(encoder.encode(`${headers}\r\nA body`)),
        Stream.fail(new MailQueue.QueueError({ operation: "body" }))
      )
      const { queue, sent } = stubQueue(pieces)
      const message = queued({ mailParameters: [{ keyword: "RET", value: "HDRS" }] })
      yield* Reports.send(queue, options, message, [failed(message)])
      const report = yield* parseReport(sent[0]!.bytes)
      expect(isWellFormed(report)).toBe(true)
      expect(report.parts[2]?.type).toBe("text/rfc822-headers")
      expect(report.parts[2]?.text).toBe(headers)
      expect(text(sent[0]!.bytes)).not.toContain("A body")
    })
  )

  it.effect("a message over originalLimit comes back as its headers even with RET=FULL; one at it, whole", () =>
    Effect.gen(function* () {
      const types: Array<string | undefined> = []
      for (const size of [Reports.originalLimit, Reports.originalLimit + 1]) {
        const { queue, sent } = stubQueue(inPieces(original))
        const message = queued({ size, mailParameters: [{ keyword: "RET", value: "FULL" }] })
        yield* Reports.send(queue, options, message, [failed(message)])
        types.push((yield* parseReport(sent[0]!.bytes)).parts[2]?.type)
      }
      expect(types).toEqual(["message/rfc822", "text/rfc822-headers"])
    })
  )

  it.effect("NOTIFY decides per recipient and action; failures and delays go in separate notices", () =>
    Effect.gen(function* () {
      const { queue, sent } = stubQueue(inPieces(original))
      const notify = (value: string) => [{ keyword: "NOTIFY", value }]
      const message = queued({
        recipients: [
          recipient(0, "never@example.net", notify("NEVER")),
          recipient(1, "success@example.net", notify("SUCCESS")),
          recipient(2, "failure@example.net", notify("FAILURE")),
          recipient(3, "plain@example.net"),
          recipient(4, "delay@example.net", notify("DELAY,SUCCESS")),
          recipient(5, "late@example.net")
        ]
      })
      const entries = [...[0, 1, 2, 3].map((i) => failed(message, i)), ...[0, 2, 4, 5].map((i) => delayed(message, i))]
      yield* Reports.send(queue, options, message, entries)
      const reports = yield* Effect.forEach(sent, (s) => parseReport(s.bytes))
      expect(reports.map((r) => r.headers["Subject"])).toEqual([
        "Undelivered Mail Returned to Sender",
        "Delayed Mail (still being retried)"
      ])
      expect(reports.map((r) => recipientGroups(r).map((g) => [g["Final-Recipient"], g["Action"]]))).toEqual([
        [
          ["rfc822; failure@example.net", "failed"],
          ["rfc822; plain@example.net", "failed"]
        ],
        [
          ["rfc822; delay@example.net", "delayed"],
          ["rfc822; late@example.net", "delayed"]
        ]
      ])
      // a delay warning returns the headers only, and says until when the queue keeps trying
      expect(reports[1]?.parts[2]?.type).toBe("text/rfc822-headers")
      expect(recipientGroups(reports[1]!)[0]?.["Will-Retry-Until"]).toBe("Tue, 06 Jan 2026 00:00:00 +0000")
    })
  )

  it.effect("reports the status it is given (4.4.7 at the lifetime's end), ENVID and ORCPT", () =>
    Effect.gen(function* () {
      const { queue, sent } = stubQueue(inPieces(original))
      const message = queued({
        mailParameters: [{ keyword: "ENVID", value: "QQ314159" }],
        recipients: [recipient(0, "bob@example.net", [{ keyword: "ORCPT", value: "rfc822;bob+2Bold@example.net" }])]
      })
      yield* Reports.send(queue, options, message, [{ ...failed(message, 0, "4.4.7"), reply: later }])
      const report = yield* parseReport(sent[0]!.bytes)
      expect(report.parts[1]?.groups?.[0]?.["Original-Envelope-Id"]).toBe("QQ314159")
      expect(recipientGroups(report)).toEqual([
        expect.objectContaining({
          "Original-Recipient": "rfc822; bob+old@example.net",
          Action: "failed",
          Status: "4.4.7",
          "Diagnostic-Code": "smtp; 450 4.2.1 Try later"
        })
      ])
    })
  )
})

describe("Reports.send: who gets one, and how it is queued", () => {
  it.effect("none to the null sender, none about a notice", () =>
    Effect.gen(function* () {
      const { queue, sent } = stubQueue(inPieces(original))
      for (const message of [queued({ mailFrom: "" }), queued({ bounce: true })]) {
        yield* Reports.send(queue, options, message, [failed(message), delayed(message, 0)])
      }
      expect(sent).toEqual([])
    })
  )

  it.effect("a UTF-8 sender's notice asks for SMTPUTF8 and 8BITMIME; an 8-bit original for 8BITMIME", () =>
    Effect.gen(function* () {
      const eightBit = encoder.encode(`${headers}\r\nCaf\u00e9 au lait.\r\n`)
      const { queue, sent } = stubQueue(inPieces(eightBit))
      const utf8 = queued({ mailFrom: "jos\u00e9@example.com", size: eightBit.length })
      yield* Reports.send(queue, options, utf8, [failed(utf8)])
      const ascii = queued({ size: eightBit.length })
      yield* Reports.send(queue, options, ascii, [failed(ascii)])
      expect(sent.map((s) => [s.submission.recipients[0]?.address, s.submission.mailParameters])).toEqual([
        ["jos\u00e9@example.com", [{ keyword: "BODY", value: "8BITMIME" }, { keyword: "SMTPUTF8" }]],
        ["alice@example.com", [{ keyword: "BODY", value: "8BITMIME" }]]
      ])
    })
  )

  it.effect("a notice the queue cannot store fails with its QueueError", () =>
    Effect.gen(function* () {
      const { queue } = stubQueue(inPieces(original), true)
      const message = queued()
      const error = yield* Effect.flip(Reports.send(queue, options, message, [failed(message)]))
      expect(error).toBeInstanceOf(MailQueue.QueueError)
      expect(error.operation).toBe("commit")
    })
  )
})
