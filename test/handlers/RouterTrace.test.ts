// The router's part of issue 14, through its hooks: one Received: per copy (the router's, which
// its routes do not repeat), the hop count for every route, and one answer per recipient for an
// LMTP client while an SMTP client keeps its single reply.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { TestClock } from "effect/testing"
import type * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Verdicts from "../../src/handler/Verdicts.js"
import * as Router from "../../src/handlers/Router.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { collectRefusals, peelReceived, recorder, text } from "../utils/relay.js"

const base: SessionInfo = {
  id: "r1",
  peer: { address: "192.0.2.7", port: 40123 },
  local: { address: "192.0.2.25", port: 24 },
  hostname: "mx.test",
  greeting: { name: "client.test", esmtp: true },
  envelope: undefined,
  secure: false
}

const recipients = ["x1@x.test", "y1@y.test", "x2@x.test"]

const envelope = {
  mailFrom: "a@example.org",
  mailParameters: [],
  mailOptions: { size: undefined, body: undefined, smtpUtf8: false, ret: undefined, envid: undefined },
  recipients: recipients.map((address) => ({ address, parameters: [] }))
}

const message = (content: string): Message.Message => ({
  envelope,
  body: Stream.make(new TextEncoder().encode(content)),
  decodeData: false
})

const received = (n: number) => "Received: from a by b; x\r\n".repeat(n)

// x.test delivers, y.test refuses (450); one transaction for the three recipients, through the hooks
const transaction = (
  options: { readonly protocol: "smtp" | "lmtp"; readonly content: string } & Partial<Router.Options<never, never>>
) =>
  Effect.gen(function* () {
    const x = yield* recorder()
    const y = yield* recorder({ fail: new SmtpError.MailboxUnavailable({ text: "Later (y)", transient: true }) })
    const { onRefused, refusals } = yield* collectRefusals
    const handler = yield* MessageHandler.MessageHandler.pipe(
      Effect.provide(
        Router.layer({
          routes: [Router.domain("x.test", x.layer), Router.domain("y.test", y.layer)],
          onRefused,
          ...(options.received === undefined ? {} : { received: options.received }),
          ...(options.maxReceived === undefined ? {} : { maxReceived: options.maxReceived })
        })
      )
    )
    const session = { ...base, protocol: options.protocol }
    const hooks = yield* handler.session!(session)
    yield* hooks.mail!(session, envelope.mailFrom, [])
    for (const recipient of envelope.recipients) yield* hooks.rcpt!(session, recipient)
    const answer = yield* Effect.result(hooks.data!({ ...session, envelope }, message(options.content)))
    return { answer, x: yield* x.deliveries, y: yield* y.deliveries, refusals: yield* refusals }
  })

const wire = (answer: unknown) =>
  Verdicts.isPerRecipient(answer)
    ? Verdicts.replies(answer, recipients.length).map((reply) => Reply.encode(reply, true).trimEnd())
    : answer instanceof Reply.Reply
      ? Reply.encode(answer, true).trimEnd()
      : answer

describe("Router per recipient", () => {
  it.effect("answers an LMTP client once per recipient, in RCPT order, each with its route's verdict", () =>
    Effect.gen(function* () {
      const { answer, refusals, x } = yield* transaction({ protocol: "lmtp", content: "Subject: s\r\n\r\nhi\r\n" })
      assert(answer._tag === "Success")
      expect(wire(answer.success)).toEqual([
        "250 2.0.0 Ok: message accepted",
        "450 4.2.1 Later (y)",
        "250 2.0.0 Ok: message accepted"
      ])
      expect(refusals).toEqual([])
      expect(x.map((d) => d.rcptTos)).toEqual([["x1@x.test", "x2@x.test"]])
    }).pipe(Effect.scoped)
  )

  it.effect("keeps one reply for an SMTP client: 250, and the refused route to onRefused", () =>
    Effect.gen(function* () {
      const { answer, refusals } = yield* transaction({ protocol: "smtp", content: "Subject: s\r\n\r\nhi\r\n" })
      assert(answer._tag === "Success")
      expect(wire(answer.success)).toBe("250 2.0.0 Ok: message accepted")
      expect(refusals.map((r) => r.recipients)).toEqual([[{ address: "y1@y.test", reply: "450 4.2.1 Later (y)" }]])
    }).pipe(Effect.scoped)
  )
})

describe("Router Received:", () => {
  it.effect("puts one field on each copy, dated by the Clock, naming the recipient only of a one-recipient route", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.UTC(2026, 11, 6, 23, 40, 0))
      const content = "Subject: s\r\n\r\nhi\r\n"
      const { x } = yield* transaction({ protocol: "lmtp", content })
      const { raw, received: fields, rest } = peelReceived(text(x[0]!.data))
      expect(rest).toBe(content)
      expect(fields).toEqual(["Received: from client.test ([192.0.2.7]) by mx.test with LMTP id ID; DATE"])
      expect(raw[0]).toContain("Sun, 06 Dec 2026 23:40:00 +0000")
    }).pipe(Effect.scoped)
  )

  it.effect("adds none with received: false", () =>
    Effect.gen(function* () {
      const content = "Subject: s\r\n\r\nhi\r\n"
      const { x } = yield* transaction({ protocol: "smtp", content, received: false })
      expect(text(x[0]!.data)).toBe(content)
    }).pipe(Effect.scoped)
  )

  it.effect("refuses a message past maxReceived for every route with 554 5.4.6", () =>
    Effect.gen(function* () {
      const looping = `${received(3)}Subject: loop\r\n\r\nhi\r\n`
      const lmtp = yield* transaction({ protocol: "lmtp", content: looping, maxReceived: 2 })
      assert(lmtp.answer._tag === "Success")
      expect(wire(lmtp.answer.success)).toEqual(
        Array(3).fill("554 5.4.6 Too many hops (3 Received: fields): mail loop suspected")
      )
      expect(lmtp.x).toEqual([])
      const smtp = yield* transaction({ protocol: "smtp", content: looping, maxReceived: 2 })
      assert(smtp.answer._tag === "Failure")
      expect(Reply.encode(SmtpError.reply(smtp.answer.failure as SmtpError.SmtpError), true)).toBe(
        "554 5.4.6 Too many hops (3 Received: fields): mail loop suspected\r\n"
      )
      // at the limit it passes
      const fits = yield* transaction({
        protocol: "smtp",
        content: `${received(2)}Subject: ok\r\n\r\nhi\r\n`,
        maxReceived: 2
      })
      expect(fits.x).toHaveLength(1)
    }).pipe(Effect.scoped)
  )

  it.effect("a Router behind a Router adds no second field: one hop, one Received:", () =>
    Effect.gen(function* () {
      const x = yield* recorder()
      const inner = Router.layer({ routes: [Router.domain("x.test", x.layer)] })
      const handler = yield* MessageHandler.MessageHandler.pipe(
        Effect.provide(Router.layer({ routes: [Router.domain("x.test", inner)] }))
      )
      const session = { ...base, protocol: "smtp" as const }
      const hooks = yield* handler.session!(session)
      const only = { ...envelope, recipients: [envelope.recipients[0]!] }
      yield* hooks.mail!(session, only.mailFrom, [])
      yield* hooks.rcpt!(session, only.recipients[0]!)
      const content = "Subject: s\r\n\r\nhi\r\n"
      yield* hooks.data!({ ...session, envelope: only }, { ...message(content), envelope: only })
      const { received: fields, rest } = peelReceived(text((yield* x.deliveries)[0]!.data))
      expect(fields).toHaveLength(1)
      expect(rest).toBe(content)
    }).pipe(Effect.scoped)
  )
})
