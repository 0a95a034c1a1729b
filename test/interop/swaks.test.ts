// swaks (the Swiss Army Knife for SMTP) against the real server, with exact stored bytes.
//
// What swaks changes: with `--data @file` it sends the file with every line ending made CRLF,
// dot-stuffed, and then always "\r\n.\r\n" — so a file that ends in a line break arrives with one
// empty line more. It also replaces `%TOKENS%` and a literal backslash-n in the data (the files
// here have neither). Without --data it builds its own message (Date, To, From, Subject,
// Message-Id, X-Mailer, then the body). Exit codes: 0 delivered, 24 no recipient accepted,
// 26 message refused after DATA.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { messageFile, runProcess } from "../utils/process.js"
import { type TestServer, text, withServer } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"

const swaks = (server: TestServer, args: ReadonlyArray<string>) =>
  runProcess("swaks", ["--server", server.host, "--port", String(server.port), "--helo", "client.example", ...args])

// the position of a transcript line, which must be there
const position = (transcript: string, line: string) => {
  const at = transcript.indexOf(`\n${line}\n`)
  expect(at, `swaks transcript has no line ${JSON.stringify(line)}:\n${transcript}`).toBeGreaterThanOrEqual(0)
  return at
}

describe.skipIf(skipWithout("swaks"))("swaks", () => {
  it.live("delivers a CRLF file given with --data @file, plus the CRLF swaks always adds", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = "Subject: swaks\r\nX-Test: plain\r\n\r\nfirst line\r\n.dot line\r\n..two dots\r\nlast line\r\n"
      const file = yield* messageFile(content)
      const result = yield* swaks(server, [
        "--from",
        "s@example.com",
        "--to",
        "plain@example.com",
        "--data",
        `@${file}`
      ])
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      // without --pipeline swaks waits for each reply before the next command
      const transcript = "\n" + result.stdout
      expect(position(transcript, "<-  250 2.1.0 Ok")).toBeLessThan(
        position(transcript, " -> RCPT TO:<plain@example.com>")
      )
      position(transcript, "<-  250 2.0.0 Ok: message accepted")
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.helo).toBe("client.example")
      expect(delivery!.mailFrom).toBe("s@example.com")
      expect(delivery!.rcptTos).toEqual(["plain@example.com"])
      expect(text(delivery!.data)).toBe(content + "\r\n")
    })
  )

  it.live("a file with LF line endings: swaks sends CRLF and stuffs the dots", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const file = yield* messageFile("Subject: lf\n\n.dot\n..\n.\nend\n")
      const result = yield* swaks(server, ["--from", "s@example.com", "--to", "lf@example.com", "--data", `@${file}`])
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      const [delivery] = yield* server.deliveries
      expect(text(delivery!.data)).toBe("Subject: lf\r\n\r\n.dot\r\n..\r\n.\r\nend\r\n\r\n")
    })
  )

  it.live("--pipeline: MAIL, RCPT and DATA go before the first reply; bytes exact", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = "Subject: pipelined\r\n\r\n.one\r\ntwo\r\n"
      const file = yield* messageFile(content)
      const result = yield* swaks(server, [
        "--from",
        "s@example.com",
        "--to",
        "pipe@example.com",
        "--data",
        `@${file}`,
        "--pipeline"
      ])
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      const transcript = "\n" + result.stdout
      expect(position(transcript, " -> DATA")).toBeLessThan(position(transcript, "<-  250 2.1.0 Ok"))
      expect(position(transcript, "<-  250 2.1.5 Ok")).toBeLessThan(
        position(transcript, "<-  354 End data with <CR><LF>.<CR><LF>")
      )
      const [delivery] = yield* server.deliveries
      expect(text(delivery!.data)).toBe(content + "\r\n")
    })
  )

  it.live("several recipients, pipelined, one refused with 501: the others get the message", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = "Subject: many\r\n\r\nto three, one bad\r\n"
      const file = yield* messageFile(content)
      const result = yield* swaks(server, [
        "--from",
        "s@example.com",
        "--to",
        "one@example.com,bad address,two@example.org,three@example.net",
        "--data",
        `@${file}`,
        "--pipeline"
      ])
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      const replies = result.stdout.split("\n").filter((line) => /^<(-|\*\*) {1,2}\d{3}[ -]/.test(line))
      // the greeting and the eight EHLO lines, then one reply per pipelined command, in order
      expect(replies.slice(9, 15)).toEqual([
        "<-  250 2.1.0 Ok",
        "<-  250 2.1.5 Ok",
        "<** 501 5.1.3 Invalid recipient address",
        "<-  250 2.1.5 Ok",
        "<-  250 2.1.5 Ok",
        "<-  354 End data with <CR><LF>.<CR><LF>"
      ])
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.rcptTos).toEqual(["one@example.com", "two@example.org", "three@example.net"])
      expect(text(delivery!.data)).toBe(content + "\r\n")
    })
  )

  it.live("--body with --from '<>': swaks's own message, from the null sender", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const result = yield* swaks(server, ["--from", "<>", "--to", "body@example.com", "--body", "hello swaks"])
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      const [delivery] = yield* server.deliveries
      expect(delivery!.mailFrom).toBe("")
      expect(text(delivery!.data)).toMatch(
        /^Date: [^\r\n]+\r\nTo: body@example\.com\r\nFrom: \r\nSubject: test [^\r\n]+\r\nMessage-Id: <[^\r\n]+>\r\nX-Mailer: swaks v[^\r\n]+\r\n\r\nhello swaks\r\n\r\n\r\n$/
      )
    })
  )

  it.live("exits 26 when the message is over maxMessageSize (552 after DATA); nothing stored", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ maxMessageSize: 1000 })
      const file = yield* messageFile("Subject: big\r\n\r\n" + "x".repeat(2000) + "\r\n")
      const result = yield* swaks(server, ["--from", "s@example.com", "--to", "big@example.com", "--data", `@${file}`])
      expect(result.exitCode, result.stdout + result.stderr).toBe(26)
      position("\n" + result.stdout, "<** 552 5.3.4 Message size exceeds fixed maximum message size")
      position("\n" + result.stdout, "<-  221 2.0.0 Bye")
      expect(yield* server.deliveries).toEqual([])
    })
  )
})
