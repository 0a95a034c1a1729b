// Bounce: the RFC 3464 report as Python's `email` package reads it (multipart/report, the three
// parts, the delivery-status fields, the original whole or its headers), its field syntax and
// line endings, 8-bit originals, and the rules on whom to report to (NOTIFY, <>, bounces).
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { spawnSync } from "node:child_process"
import * as Dsn from "../../src/protocol/Dsn.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as Bounce from "../../src/queue/Bounce.js"
import { python3, skipWithout } from "../utils/tools.js"

const now = Date.UTC(2026, 2, 1, 12, 30, 5)
const arrival = now - 3600_000

const originalText =
  "From: Alice <alice@sender.example>\r\nTo: bob@dest.example\r\nSubject: Hello there\r\n" +
  "Message-ID: <m1@sender.example>\r\n\r\nThe body.\r\nSecond line.\r\n"

const input = (overrides: Partial<Bounce.Input> = {}): Bounce.Input => ({
  reportingMta: "mx.relay.example",
  arrivalDate: arrival,
  now,
  originalEnvelope: { mailFrom: "alice@sender.example" },
  recipients: [
    {
      address: "bob@dest.example",
      action: "failed",
      diagnostic: Reply.make(550, "5.1.1", "No such user"),
      remoteMta: "mx.dest.example"
    }
  ],
  original: new TextEncoder().encode(originalText),
  ...overrides
})

interface Parsed {
  readonly type: string
  readonly params: Record<string, string>
  readonly headers: Record<string, string>
  readonly defects: ReadonlyArray<string>
  readonly parts: ReadonlyArray<{
    readonly type: string
    readonly cte: string | null
    readonly defects: ReadonlyArray<string>
    readonly groups?: ReadonlyArray<Record<string, string>>
    readonly inner?: { readonly headers: Record<string, string>; readonly body: string }
    readonly text?: string
  }>
}

// Python's email package, policy.default: what a mail client would make of the report
const script = `
import sys, json, email
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
def defects(msg): return [type(d).__name__ for d in msg.defects]
out = {"type": m.get_content_type(), "params": dict(m["content-type"].params),
       "headers": {k: str(v) for k, v in m.items()}, "defects": defects(m), "parts": []}
for p in m.iter_parts():
    info = {"type": p.get_content_type(), "cte": p.get("content-transfer-encoding"), "defects": defects(p)}
    if p.get_content_type() == "message/delivery-status":
        info["groups"] = [{k: str(v) for k, v in g.items()} for g in p.get_payload()]
    elif p.get_content_type() == "message/rfc822":
        inner = p.get_payload(0)
        info["inner"] = {"headers": {k: str(v) for k, v in inner.items()},
                         "body": inner.get_payload(decode=True).decode("utf-8")}
    else:
        info["text"] = p.get_payload(decode=True).decode(p.get_content_charset() or "ascii")
    out["parts"].append(info)
print(json.dumps(out))
`

const parse = (bytes: Uint8Array): Parsed => {
  const run = spawnSync(python3, ["-c", script], { input: bytes, encoding: "utf8", timeout: 20_000 })
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`)
  return JSON.parse(run.stdout) as Parsed
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

// the delivery-status part's body, read without Python
const statusBody = (report: string): string => {
  const boundary = /boundary="([^"]+)"/.exec(report)![1]!
  const part = report.split(`\r\n--${boundary}`)[2]!
  return part.slice(part.indexOf("\r\n\r\n") + 4)
}

describe.skipIf(skipWithout("python3"))("Bounce.make as Python's email package reads it", () => {
  it("is a multipart/report with the explanation, the delivery status and the whole original", () => {
    const parsed = parse(Bounce.make(input()))
    expect(parsed.type).toBe("multipart/report")
    expect(parsed.params["report-type"]).toBe("delivery-status")
    expect(parsed.defects).toEqual([])
    expect(parsed.parts.map((p) => p.type)).toEqual(["text/plain", "message/delivery-status", "message/rfc822"])
    expect(parsed.parts.flatMap((p) => p.defects)).toEqual([])
    expect(parsed.headers).toMatchObject({
      From: "Mail Delivery System <MAILER-DAEMON@mx.relay.example>",
      To: "alice@sender.example",
      Subject: "Undelivered Mail Returned to Sender",
      Date: "Sun, 01 Mar 2026 12:30:05 +0000",
      "Auto-Submitted": "auto-replied",
      "MIME-Version": "1.0"
    })
    expect(parsed.headers["Message-ID"]).toMatch(/^<[^<>@\s]+@mx\.relay\.example>$/)
    expect(parsed.parts[0]!.text).toContain("<bob@dest.example>: failed, host mx.dest.example said: 550 5.1.1")
    const [perMessage, perRecipient] = parsed.parts[1]!.groups!
    expect(perMessage).toEqual({
      "Reporting-MTA": "dns; mx.relay.example",
      "Arrival-Date": "Sun, 01 Mar 2026 11:30:05 +0000"
    })
    expect(perRecipient).toEqual({
      "Final-Recipient": "rfc822; bob@dest.example",
      Action: "failed",
      Status: "5.1.1",
      "Remote-MTA": "dns; mx.dest.example",
      "Diagnostic-Code": "smtp; 550 5.1.1 No such user",
      "Last-Attempt-Date": "Sun, 01 Mar 2026 12:30:05 +0000"
    })
    const inner = parsed.parts[2]!.inner!
    expect(inner.headers).toEqual({
      From: "Alice <alice@sender.example>",
      To: "bob@dest.example",
      Subject: "Hello there",
      "Message-ID": "<m1@sender.example>"
    })
    expect(inner.body).toBe("The body.\r\nSecond line.\r\n")
  })

  it("attaches the whole original byte for byte", () => {
    expect(latin1(Bounce.make(input()))).toContain(
      `Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${originalText}\r\n--`
    )
  })

  it("attaches the header section only for RET=HDRS", () => {
    const report = Bounce.make(input({ originalEnvelope: { mailFrom: "alice@sender.example", ret: "HDRS" } }))
    const part = parse(report).parts[2]!
    expect(part.type).toBe("text/rfc822-headers")
    expect(part.text).toBe(originalText.slice(0, originalText.indexOf("\r\n\r\n") + 2))
    expect(latin1(report)).not.toContain("The body.")
  })

  it("reports ENVID and ORCPT, UTF-8 addresses in RFC 6533 form", () => {
    const report = Bounce.make(
      input({
        originalEnvelope: { mailFrom: "alice@sender.example", envid: "QQ314159", ret: "FULL" },
        recipients: [
          {
            address: "bob@dest.example",
            orcpt: { addressType: "rfc822", address: "Bob@Dest.Example" },
            action: "failed"
          },
          {
            address: "jürgen@dest.example",
            orcpt: { addressType: "utf-8", address: "jürgen+x@dest.example" },
            action: "failed"
          }
        ]
      })
    )
    const [perMessage, first, second] = parse(report).parts[1]!.groups!
    expect(perMessage!["Original-Envelope-Id"]).toBe("QQ314159")
    expect(first!["Original-Recipient"]).toBe("rfc822; Bob@Dest.Example")
    expect(first!["Status"]).toBe("5.0.0")
    expect(first!["Diagnostic-Code"]).toBeUndefined()
    expect(second!["Final-Recipient"]).toBe("utf-8; j\\x{FC}rgen@dest.example")
    // what RCPT's ORCPT parser reads back is the address we were given
    const orcpt = second!["Original-Recipient"]!.replace("; ", ";")
    expect(Result.getOrThrow(Dsn.parseOrcpt(orcpt)).address).toBe("jürgen+x@dest.example")
  })

  it("warns of a delay with Will-Retry-Until and the headers only", () => {
    const until = arrival + 5 * 24 * 3600_000
    const parsed = parse(
      Bounce.make(
        input({
          originalEnvelope: { mailFrom: "alice@sender.example", ret: "FULL" },
          recipients: [
            { address: "bob@dest.example", action: "delayed", diagnostic: Reply.make(451, undefined, "Try later") }
          ],
          willRetryUntil: until
        })
      )
    )
    expect(parsed.headers["Subject"]).toBe("Delayed Mail (still being retried)")
    expect(parsed.parts[0]!.text).toContain("A warning only: there is no need to send your message again.")
    expect(parsed.parts[1]!.groups![1]).toMatchObject({
      Action: "delayed",
      Status: "4.0.0",
      "Diagnostic-Code": "smtp; 451 Try later",
      "Will-Retry-Until": "Fri, 06 Mar 2026 11:30:05 +0000"
    })
    expect(parsed.parts[2]!.type).toBe("text/rfc822-headers")
  })

  it("reports successes, and a mixed report by its gravest action", () => {
    const delivered = parse(Bounce.make(input({ recipients: [{ address: "bob@dest.example", action: "delivered" }] })))
    expect(delivered.headers["Subject"]).toBe("Successful Mail Delivery Report")
    expect(delivered.parts[1]!.groups![1]).toMatchObject({ Action: "delivered", Status: "2.0.0" })
    expect(delivered.parts[1]!.groups![1]!["Will-Retry-Until"]).toBeUndefined()
    const mixed = parse(
      Bounce.make(
        input({
          recipients: [
            { address: "a@dest.example", action: "delayed" },
            { address: "b@dest.example", action: "failed", status: "5.2.2" }
          ]
        })
      )
    )
    expect(mixed.headers["Subject"]).toBe("Undelivered Mail Returned to Sender")
    expect(mixed.parts[1]!.groups!.slice(1).map((g) => `${g["Action"]} ${g["Status"]}`)).toEqual([
      "delayed 4.0.0",
      "failed 5.2.2"
    ])
  })

  it("attaches an 8-bit original as 8bit, intact", () => {
    const text = "From: a@sender.example\r\nSubject: caf\u00e9\r\n\r\nGr\u00fc\u00dfe, \u65e5\u672c\r\n"
    const report = Bounce.make(input({ original: new TextEncoder().encode(text) }))
    const parsed = parse(report)
    expect(parsed.headers["Content-Transfer-Encoding"]).toBe("8bit")
    expect(parsed.parts[2]!.cte).toBe("8bit")
    expect(parsed.parts[2]!.inner!.body).toBe("Gr\u00fc\u00dfe, \u65e5\u672c\r\n")
    expect(parsed.parts.flatMap((p) => p.defects)).toEqual([])
    expect(Buffer.from(report).includes(Buffer.from(text))).toBe(true)
    expect(Bounce.envelopeOf(input({ original: new TextEncoder().encode(text) })).body).toBe("8BITMIME")
  })

  it("picks a boundary that the original does not contain", () => {
    const first = latin1(Bounce.make(input()))
    const boundary = /boundary="([^"]+)"/.exec(first)![1]!
    const tricky = `${originalText}--${boundary}\r\nContent-Type: text/plain\r\n\r\nnot a part\r\n--${boundary}--\r\n`
    const report = Bounce.make(input({ original: new TextEncoder().encode(tricky) }))
    expect(/boundary="([^"]+)"/.exec(latin1(report))![1]).not.toBe(boundary)
    const parsed = parse(report)
    expect(parsed.parts.map((p) => p.type)).toEqual(["text/plain", "message/delivery-status", "message/rfc822"])
    expect(parsed.parts[2]!.inner!.body).toBe(tricky.slice(tricky.indexOf("\r\n\r\n") + 4))
  })
})

describe("Bounce.make's syntax", () => {
  const long = Reply.make(550, "5.7.1", [`Rejected: ${"policy ".repeat(20)}`, "see https://help.example/x"])

  it("writes CRLF lines, 7-bit headers, `Name: value` status fields of at most 78 characters", () => {
    const report = latin1(
      Bounce.make(input({ recipients: [{ address: "bob@dest.example", action: "failed", diagnostic: long }] }))
    )
    expect(report).not.toMatch(/[^\r]\n|\r[^\n]/)
    const headers = report.slice(0, report.indexOf("\r\n\r\n"))
    expect(headers).toMatch(/^[\x20-\x7e\t\r\n]*$/)
    const lines = statusBody(report).split("\r\n")
    for (const line of lines) {
      expect(line === "" || /^[A-Za-z][A-Za-z0-9-]*: \S/.test(line) || /^ \S/.test(line), line).toBe(true)
      expect(line.length).toBeLessThanOrEqual(78)
    }
    // the folded diagnostic unfolds to the reply, its lines joined
    const unfolded = statusBody(report).replace(/\r\n /g, " ")
    expect(unfolded).toContain(`Diagnostic-Code: smtp; 550 5.7.1 ${long.lines.join(" ")}\r\n`)
  })

  it("keeps CR, LF and 8-bit text of a remote reply out of the fields", () => {
    const report = latin1(
      Bounce.make(
        input({ recipients: [{ address: "b@dest.example", action: "failed", diagnostic: "bad\r\nX-Evil: 1 \u00e9" }] })
      )
    )
    expect(statusBody(report)).toContain("Diagnostic-Code: X-Effect-Smtpd; bad??X-Evil: 1 ?\r\n")
    expect(report).not.toContain("\r\nX-Evil")
  })

  it("derives the status from the reply, refuses a malformed one and the null sender", () => {
    const status = (recipient: Bounce.Recipient) =>
      /\r\nStatus: (\S+)/.exec(statusBody(latin1(Bounce.make(input({ recipients: [recipient] })))))![1]
    expect(status({ address: "b@d.example", action: "failed", diagnostic: Reply.make(554, undefined, "No") })).toBe(
      "5.0.0"
    )
    // a message that expired on transient errors: failed, with the last 4xx status (as Postfix)
    expect(status({ address: "b@d.example", action: "failed", diagnostic: Reply.make(451, "4.4.1", "Down") })).toBe(
      "4.4.1"
    )
    expect(() =>
      Bounce.make(input({ recipients: [{ address: "b@d.example", action: "failed", status: "5.1" }] }))
    ).toThrow(RangeError)
    expect(() => Bounce.make(input({ originalEnvelope: { mailFrom: "" } }))).toThrow(RangeError)
  })

  it("is sent from <> to the original sender", () => {
    expect(Bounce.envelopeOf(input())).toEqual({
      mailFrom: "",
      rcptTo: ["alice@sender.example"],
      body: "7BIT",
      smtpUtf8: false
    })
    const utf8 = Bounce.envelopeOf(input({ originalEnvelope: { mailFrom: "jürgen@sender.example" } }))
    expect(utf8).toMatchObject({ rcptTo: ["jürgen@sender.example"], body: "8BITMIME", smtpUtf8: true })
  })
})

describe("Bounce report rules", () => {
  it("honours NOTIFY (RFC 3461 §4.1)", () => {
    const table = (notify: Dsn.Notify | undefined) =>
      (["failed", "delayed", "delivered"] as const).filter((action) => Bounce.shouldReport(action, notify))
    expect(table(undefined)).toEqual(["failed", "delayed"])
    expect(table("NEVER")).toEqual([])
    expect(table(["SUCCESS"])).toEqual(["delivered"])
    expect(table(["FAILURE"])).toEqual(["failed"])
    expect(table(["DELAY", "FAILURE"])).toEqual(["failed", "delayed"])
    expect(table(["SUCCESS", "FAILURE", "DELAY"])).toEqual(["failed", "delayed", "delivered"])
  })

  it("never reports to the null sender nor on a report", () => {
    expect(Bounce.mayBounce({ mailFrom: "alice@sender.example", isBounce: false })).toBe(true)
    expect(Bounce.mayBounce({ mailFrom: "", isBounce: false })).toBe(false)
    expect(Bounce.mayBounce({ mailFrom: "<>", isBounce: false })).toBe(false)
    expect(Bounce.mayBounce({ mailFrom: "alice@sender.example", isBounce: true })).toBe(false)
  })
})
