// Python's smtplib against the real server: every stored message is compared byte for byte with
// what smtplib puts on the wire after the server's unstuffing.
//
// What smtplib changes: `sendmail` with a str turns every lone CR or LF into CRLF; with bytes it
// sends them as they are. In both cases it doubles a dot at the start of every line — after a
// bare LF too (`re.sub(rb"(?m)^\.", b"..")`) — and adds CRLF when the message does not end in
// CRLF. After EHLO it declares `size=<len(msg)>` when SIZE is offered.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { python } from "../utils/process.js"
import { crlf, smtplibPrelude, type TestServer, text, withServer } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"

// the script gets `message` (stdin's bytes), `connect()`, `r(reply)` and `report(value)`; the
// last line it prints is its JSON result
const prelude = smtplibPrelude

const smtplib = <A = unknown>(server: TestServer, script: string, input?: Uint8Array | string) =>
  Effect.gen(function* () {
    const result = yield* python(prelude + script.trim() + "\n", [], {
      input,
      env: { SMTP_HOST: server.host, SMTP_PORT: String(server.port) }
    })
    expect(result.exitCode, `python3 failed:\n${result.stderr}`).toBe(0)
    return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "null") as A
  })

// a Python string literal (JSON's escapes are Python's)
const py = (value: string | ReadonlyArray<string>) => JSON.stringify(value)

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const bytes = (...parts: ReadonlyArray<string | Uint8Array>) =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "latin1") : part)))

describe.skipIf(skipWithout("python3"))("smtplib", () => {
  it.live("sees PIPELINING, SIZE, 8BITMIME, CHUNKING, BINARYMIME, DSN and ENHANCEDSTATUSCODES in the EHLO reply", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const ehlo = yield* smtplib(
        server,
        `
s = connect()
code, text = s.ehlo("client.example")
report({"code": code, "name": text.decode().split("\\n")[0], "features": s.esmtp_features})
s.quit()`
      )
      expect(ehlo).toEqual({
        code: 250,
        name: "mx.test",
        features: {
          pipelining: "",
          size: "33554432",
          "8bitmime": "",
          chunking: "",
          binarymime: "",
          dsn: "",
          enhancedstatuscodes: ""
        }
      })
    })
  )

  it.live("sees the keywords follow the options: SMTPUTF8 on, no SIZE without a limit", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ smtpUtf8: true, maxMessageSize: 0, chunking: false, dsn: false })
      const features = yield* smtplib(server, `s = connect(); s.ehlo(); report(s.esmtp_features); s.quit()`)
      expect(features).toEqual({ pipelining: "", "8bitmime": "", smtputf8: "", enhancedstatuscodes: "" })
    })
  )

  it.live("delivers an 8-bit body (bytes 0x80-0xff) with BODY=8BITMIME, bytes exact", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const high = Uint8Array.from({ length: 128 }, (_, i) => 0x80 + i)
      const message = bytes("Subject: 8bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", high, "\r\ncaf\xc3\xa9\r\n")
      const refused = yield* smtplib(
        server,
        `
s = connect()
refused = s.sendmail("a@example.com", ["eight@example.com"], message, mail_options=["BODY=8BITMIME"])
s.quit()
report(refused)`,
        message
      )
      expect(refused).toEqual({})
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(text(delivery!.data)).toBe(text(message))
      expect(delivery!.envelope.mailOptions).toEqual({
        size: message.length,
        body: "8BITMIME",
        smtpUtf8: false,
        ret: undefined,
        envid: undefined
      })
    })
  )

  it.live("round-trips lines that start with dots (smtplib stuffs, the server unstuffs)", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      // the first line of the message, a lone dot, two dots, and a dot as the last line
      const message = bytes(".first line starts with a dot\r\n.\r\n..\r\n...\r\n.x\r\n..x\r\n .\r\nend.\r\n.\r\n")
      yield* smtplib(
        server,
        `s = connect(); s.sendmail("a@example.com", ["dots@example.com"], message); s.quit(); report(0)`,
        message
      )
      const [delivery] = yield* server.deliveries
      expect(text(delivery!.data)).toBe(text(message))
      // the size smtplib declares is the message's before its stuffing, and so is what is stored
      expect(delivery!.envelope.mailOptions.size).toBe(message.length)
    })
  )

  it.live("a str message: smtplib turns its lone LF and CR into CRLF and ends it with CRLF", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const message = "Subject: lf\n\n.dot\n..\n.\nbare\rcr\nno final newline"
      yield* smtplib(
        server,
        `
s = connect()
s.sendmail("a@example.com", ["str@example.com"], message.decode("ascii"))
s.quit()
report(0)`,
        message
      )
      const [delivery] = yield* server.deliveries
      expect(text(delivery!.data)).toBe("Subject: lf\r\n\r\n.dot\r\n..\r\n.\r\nbare\r\ncr\r\nno final newline\r\n")
      expect(text(delivery!.data)).toBe(crlf(message) + "\r\n")
    })
  )

  it.live("a bytes message with bare LF: the server normalizes, dots after a bare LF survive", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const message = bytes("Subject: lf bytes\n\n.dot\n..\n.\nend\n")
      yield* smtplib(
        server,
        `s = connect(); s.sendmail("a@example.com", ["lfbytes@example.com"], message); s.quit(); report(0)`,
        message
      )
      const [delivery] = yield* server.deliveries
      // smtplib sends the bytes as they are, stuffing after each LF; since they do not end in
      // CRLF it adds one before the final dot, which is one empty line more
      expect(text(delivery!.data)).toBe("Subject: lf bytes\r\n\r\n.dot\r\n..\r\n.\r\nend\r\n\r\n")
    })
  )

  it.live("delivers an empty message (one CRLF) and a headers-only message", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      yield* smtplib(
        server,
        `
s = connect()
s.sendmail("a@example.com", ["empty@example.com"], b"")
s.sendmail("a@example.com", ["headers@example.com"], b"Subject: headers only\\r\\n\\r\\n")
s.quit()
report(0)`
      )
      const [empty, headers, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      // smtplib sends "\r\n.\r\n" for b"": one empty line
      expect(empty!.rcptTos).toEqual(["empty@example.com"])
      expect(text(empty!.data)).toBe("\r\n")
      expect(empty!.envelope.mailOptions.size).toBe(0)
      expect(text(headers!.data)).toBe("Subject: headers only\r\n\r\n")
    })
  )

  it.live("delivers a 10 MB message exactly (length, hash and bytes)", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      // 80-octet lines; every 7th starts with a dot, every 11th with two, so that stuffed lines
      // fall across socket reads
      const header = "Subject: ten megabytes\r\n\r\n"
      const count = Math.floor((10 * 1024 * 1024 - header.length) / 80)
      const lines: Array<string> = [header]
      for (let i = 0; i < count; i++) {
        const prefix = i % 11 === 0 ? ".." : i % 7 === 0 ? "." : ""
        const line = `${prefix}${String(i).padStart(8, "0")} `
        lines.push(line + "abcdefghijklmnopqrstuvwxyz0123456789".repeat(3).slice(0, 78 - line.length) + "\r\n")
      }
      const message = Buffer.from(lines.join(""), "latin1")
      expect(message.length).toBeGreaterThan(10 * 1024 * 1024 - 80)
      const sent = yield* smtplib<{ length: number; sha256: string }>(
        server,
        `
import hashlib
s = connect()
s.sendmail("a@example.com", ["big@example.com"], message)
s.quit()
report({"length": len(message), "sha256": hashlib.sha256(message).hexdigest()})`,
        message
      )
      expect(sent).toEqual({ length: message.length, sha256: sha256(message) })
      const [delivery] = yield* server.deliveries
      expect(delivery!.data.length).toBe(message.length)
      expect(sha256(delivery!.data)).toBe(sha256(message))
      expect(Buffer.from(delivery!.data).equals(message)).toBe(true)
    })
  )

  it.live('sends the null sender as MAIL FROM:<> when from_addr is ""', () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const message = "Subject: bounce\r\n\r\nundeliverable\r\n"
      yield* smtplib(
        server,
        `s = connect(); s.sendmail("", ["bounce@example.com"], message); s.quit(); report(0)`,
        message
      )
      const [delivery] = yield* server.deliveries
      expect(delivery!.mailFrom).toBe("")
      expect(delivery!.envelope.mailFrom).toBe("")
      expect(delivery!.rcptTos).toEqual(["bounce@example.com"])
      expect(text(delivery!.data)).toBe(message)
    })
  )

  it.live("keeps several recipients in the order they were given, as written", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const recipients = ["Zed@Example.com", "alice@example.com", "postmaster", "bob@sub.example.org"]
      const message = "Subject: many\r\n\r\nto all\r\n"
      yield* smtplib(
        server,
        `s = connect(); s.sendmail("a@example.com", ${py(recipients)}, message); s.quit(); report(0)`,
        message
      )
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.rcptTos).toEqual(recipients)
      expect(text(delivery!.data)).toBe(message)
    })
  )

  it.live("delivers with SMTPUTF8 to and from UTF-8 addresses (server option smtpUtf8)", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ smtpUtf8: true })
      const from = "jörg@bücher.example"
      const to = ["δοκιμή@παράδειγμα.example", "用户@例子.example"]
      const message = Buffer.from("Subject: Grüße\r\nTo: δοκιμή@παράδειγμα.example\r\n\r\nΓειά σου 你好\r\n", "utf8")
      yield* smtplib(
        server,
        `
s = connect()
s.sendmail(${py(from)}, ${py(to)}, message, mail_options=["SMTPUTF8"])
s.quit()
report(0)`,
        message
      )
      const [delivery] = yield* server.deliveries
      expect(delivery!.mailFrom).toBe(from)
      expect(delivery!.rcptTos).toEqual(to)
      expect(delivery!.envelope.mailOptions.smtpUtf8).toBe(true)
      expect(Buffer.from(delivery!.data).equals(message)).toBe(true)
    })
  )

  it.live("refuses a UTF-8 address with 553 5.6.7 without SMTPUTF8", () =>
    Effect.gen(function* () {
      const script = `
s = connect()
s.ehlo()
s.command_encoding = "utf-8"  # send the UTF-8 address raw, as a careless client would
replies = [r(s.mail("jörg@bücher.example")), r(s.mail("a@example.com")), r(s.rcpt("δοκιμή@παράδειγμα.example"))]
replies += [r(s.mail("jörg@bücher.example")), r(s.rset())]
try:
    s.sendmail("jörg@bücher.example", ["b@example.com"], b"x\\r\\n", mail_options=["SMTPUTF8"])
    replies.append("sent")
except smtplib.SMTPNotSupportedError:
    replies.append("SMTPNotSupportedError")
except smtplib.SMTPSenderRefused as e:
    replies.append([e.smtp_code, e.smtp_error.decode()])
s.quit()
report(replies)`
      const refused = [553, "5.6.7 Non-ASCII address requires SMTPUTF8"]
      // a second MAIL is out of sequence whatever its address
      const again = [503, "5.5.1 Sender already specified"]
      // SMTPUTF8 not offered: smtplib itself will not send the parameter
      const plain = yield* withServer()
      expect(yield* smtplib(plain, script)).toEqual([
        refused,
        [250, "2.1.0 Ok"],
        refused,
        again,
        [250, "2.0.0 Ok"],
        "SMTPNotSupportedError"
      ])
      expect(yield* plain.deliveries).toEqual([])
      // SMTPUTF8 offered but not declared on MAIL: the same 553 for the sender and the recipient
      const utf8 = yield* withServer({ smtpUtf8: true })
      expect(yield* smtplib(utf8, script)).toEqual([
        refused,
        [250, "2.1.0 Ok"],
        refused,
        again,
        [250, "2.0.0 Ok"],
        "sent"
      ])
      const [delivery, ...others] = yield* utf8.deliveries
      expect(others).toEqual([])
      expect(delivery!.mailFrom).toBe("jörg@bücher.example")
    })
  )

  it.live("answers 552 5.3.4 at the end of DATA over maxMessageSize, and the session goes on", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ maxMessageSize: 1000 })
      const header = "Subject: limit\r\n\r\n"
      const over = header + "y".repeat(981) + "\r\n"
      // 1000 octets once unstuffed; the doubled dots on the wire (1245) do not count (RFC 1870 §4)
      const exact = header + ".x\r\n".repeat(245) + "\r\n"
      expect(over.length).toBe(1001)
      expect(exact.length).toBe(1000)
      const replies = yield* smtplib(
        server,
        `
over, exact = message.split(b"\\0")
s = connect()
s.ehlo()
replies = [s.esmtp_features["size"]]
replies += [r(s.mail("a@example.com")), r(s.rcpt("over@example.com")), r(s.data(over))]
# far over: the server drains the rest of it to the final dot before it answers
huge = b"Subject: huge\\r\\n\\r\\n" + (b"." + b"z" * 78 + b"\\r\\n") * 20000
replies += [r(s.mail("a@example.com")), r(s.rcpt("huge@example.com")), r(s.data(huge))]
replies += [r(s.mail("a@example.com")), r(s.rcpt("exact@example.com")), r(s.data(exact))]
s.sendmail("a@example.com", ["after@example.com"], b"Subject: after\\r\\n\\r\\nsmall\\r\\n")
replies.append(r(s.quit()))
report(replies)`,
        `${over}\0${exact}`
      )
      expect(replies).toEqual([
        "1000",
        [250, "2.1.0 Ok"],
        [250, "2.1.5 Ok"],
        [552, "5.3.4 Message size exceeds fixed maximum message size"],
        [250, "2.1.0 Ok"],
        [250, "2.1.5 Ok"],
        [552, "5.3.4 Message size exceeds fixed maximum message size"],
        [250, "2.1.0 Ok"],
        [250, "2.1.5 Ok"],
        [250, "2.0.0 Ok: message accepted"],
        [221, "2.0.0 Bye"]
      ])
      const deliveries = yield* server.deliveries
      expect(deliveries.map((d) => d.rcptTos[0])).toEqual(["exact@example.com", "after@example.com"])
      expect(text(deliveries[0]!.data)).toBe(exact)
      expect(text(deliveries[1]!.data)).toBe("Subject: after\r\n\r\nsmall\r\n")
    })
  )

  it.live("answers 552 at MAIL for a declared SIZE over maxMessageSize; SIZE equal to it passes", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ maxMessageSize: 1000 })
      const fits = "Subject: fits\r\n\r\n" + "z".repeat(1000 - 19) + "\r\n"
      expect(fits.length).toBe(1000)
      const outcome = yield* smtplib(
        server,
        `
s = connect()
outcome = []
try:
    s.sendmail("a@example.com", ["over@example.com"], message + b"z")  # declares size=1001
    outcome.append("sent")
except smtplib.SMTPSenderRefused as e:
    outcome.append([e.smtp_code, e.smtp_error.decode()])
s.sendmail("a@example.com", ["fits@example.com"], message)  # size=1000, same connection
s.quit()
report(outcome)`,
        fits
      )
      expect(outcome).toEqual([[552, "5.3.4 Message size exceeds fixed maximum message size"]])
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.rcptTos).toEqual(["fits@example.com"])
      expect(delivery!.envelope.mailParameters).toEqual([{ keyword: "SIZE", value: "1000" }])
      expect(text(delivery!.data)).toBe(fits)
    })
  )

  it.live("delivers over IPv6 (::1)", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ listen: ["[::1]:0"] })
      expect(server.host).toBe("::1")
      const message = "Subject: v6\r\n\r\nover IPv6\r\n"
      yield* smtplib(
        server,
        `s = connect(); s.sendmail("a@example.com", ["six@example.com"], message); s.quit(); report(0)`,
        message
      )
      const [delivery] = yield* server.deliveries
      expect(delivery!.peer.address).toBe("::1")
      expect(text(delivery!.data)).toBe(message)
    })
  )

  it.live("serves a HELO-only client: sendmail works, replies carry no enhanced status codes", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const message = "Subject: helo\r\n\r\nplain SMTP\r\n"
      const replies = yield* smtplib(
        server,
        `
s = connect()
replies = [r(s.helo("old.example")), r(s.mail("a@example.com")), r(s.rcpt("helo@example.com")), r(s.data(message))]
replies += [r(s.noop()), r(s.docmd("MAIL", "FROM:<a@example.com> BODY=8BITMIME")), r(s.rset()), r(s.vrfy("x"))]
s.sendmail("b@example.com", ["helo2@example.com"], message)  # no EHLO first, no SIZE
replies += [s.does_esmtp, r(s.quit())]
report(replies)`,
        message
      )
      expect(replies).toEqual([
        [250, "mx.test"],
        [250, "Ok"],
        [250, "Ok"],
        [250, "Ok: message accepted"],
        [250, "Ok"],
        // MAIL parameters need EHLO (RFC 5321 §4.1.2); smtplib's mail() drops them after HELO,
        // so this one goes by docmd
        [555, "Parameter BODY not recognized"],
        [250, "Ok"],
        [252, "Cannot VRFY user, but will accept message and attempt delivery"],
        false,
        [221, "Bye"]
      ])
      const deliveries = yield* server.deliveries
      expect(deliveries.map((d) => [d.helo, d.mailFrom, d.rcptTos, text(d.data)])).toEqual([
        ["old.example", "a@example.com", ["helo@example.com"], message],
        ["old.example", "b@example.com", ["helo2@example.com"], message]
      ])
      expect(deliveries[1]!.envelope.mailParameters).toEqual([])
    })
  )
})
