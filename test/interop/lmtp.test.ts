// LMTP (RFC 2033) with real clients: swaks --protocol LMTP and Python's smtplib.LMTP, over TCP and
// over a Unix socket, against the built `effect-smtpd --lmtp` and an in-process server whose
// `data` hook answers each recipient on its own (Verdicts.perRecipient).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { builtCommand } from "../utils/command.js"
import { command, lmtpServer, tempDir } from "../utils/lmtpInterop.js"
import { python, runProcess } from "../utils/process.js"
import { text } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"

const main = builtCommand()

// where swaks connects: a TCP port on 127.0.0.1, or a Unix socket's path
type Target = { readonly port: number } | { readonly socket: string }
const targets = (port: number, socket: string): ReadonlyArray<readonly [string, Target]> => [
  ["TCP", { port }],
  ["a Unix socket", { socket }]
]

const swaks = (target: Target, recipients: ReadonlyArray<string>) =>
  runProcess("swaks", [
    "--protocol",
    "LMTP",
    ...("port" in target ? ["--server", "127.0.0.1", "--port", String(target.port)] : ["--socket", target.socket]),
    "--helo",
    "client.example",
    "--from",
    "s@example.com",
    "--to",
    recipients.join(","),
    "--body",
    "per recipient"
  ])

// swaks's transcript lines of the server's replies ("<-  " accepted, "<** " refused)
const replyLines = (stdout: string) => stdout.split("\n").filter((line) => /^<(-|\*\*) {1,2}\d{3}[ -]/.test(line))

// the replies that follow the end of the data (swaks's " -> ." line), up to QUIT's
const afterData = (stdout: string) => {
  const lines = stdout.split("\n")
  const dot = lines.indexOf(" -> .")
  expect(dot, stdout).toBeGreaterThan(0)
  const quit = lines.indexOf(" -> QUIT")
  return lines.slice(dot + 1, quit).filter((line) => /^<(-|\*\*) {1,2}\d{3}[ -]/.test(line))
}

describe.skipIf(skipWithout("swaks"))("swaks --protocol LMTP", () => {
  it.live("effect-smtpd --lmtp: one 250 per recipient after the data, over TCP and a Unix socket", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const socket = Path.join(dir, "lmtp.sock")
      const server = yield* command(main, [
        "-c",
        "Sink",
        "--lmtp",
        "--listen",
        "127.0.0.1:0",
        "--listen",
        `unix:${socket}`
      ])
      const recipients = ["a@example.com", "b@example.org", "c@example.net"]
      for (const [name, target] of targets(server.port, socket)) {
        const result = yield* swaks(target, recipients)
        expect(result.exitCode, `${name}:\n${result.stdout}${result.stderr}`).toBe(0)
        expect(result.stdout).toContain(" -> LHLO client.example\n")
        expect(afterData(result.stdout), name).toEqual(Array(3).fill("<-  250 2.0.0 Ok: message accepted"))
        expect(replyLines(result.stdout).at(-1)).toBe("<-  221 2.0.0 Bye")
      }
    })
  )
})

describe.skipIf(skipWithout("swaks"))("swaks --protocol LMTP, a handler answering per recipient", () => {
  it.live("shows each recipient's verdict after the data; exits 0 if one got it, 26 if none did", () =>
    Effect.gen(function* () {
      const server = yield* lmtpServer(yield* tempDir)
      for (const [name, target] of targets(server.port, server.socket)) {
        const mixed = yield* swaks(target, ["a@example.com", "full@example.com", "c@example.com"])
        expect(mixed.exitCode, `${name}:\n${mixed.stdout}${mixed.stderr}`).toBe(0)
        expect(afterData(mixed.stdout), name).toEqual([
          "<-  250 2.0.0 Ok: message accepted",
          "<** 452 4.2.2 <full@example.com> Mailbox full",
          "<-  250 2.0.0 Ok: message accepted"
        ])
        const none = yield* swaks(target, ["gone@example.com", "full@example.com"])
        expect(none.exitCode, `${name}:\n${none.stdout}${none.stderr}`).toBe(26)
        expect(afterData(none.stdout), name).toEqual([
          "<** 550 5.1.1 <gone@example.com> No such mailbox",
          "<** 452 4.2.2 <full@example.com> Mailbox full"
        ])
      }
      const stored = yield* server.stored
      expect(stored.map((message) => message.accepted)).toEqual([
        ["a@example.com", "c@example.com"],
        [],
        ["a@example.com", "c@example.com"],
        []
      ])
      expect(text(stored[0]!.data)).toMatch(/^Date: .*\r\n\r\nper recipient\r\n/s)
    })
  )
})

// smtplib.LMTP sends LHLO and connects to a Unix socket when the host is a path, but its
// sendmail() reads a single reply after the data (CPython 3.11-3.13 leave data() as SMTP's): with
// several recipients the other replies would be read as the next commands'. So a transaction with
// several recipients goes through mail(), rcpt() and data() as sendmail() does, and reads one
// more reply (getreply) for each further accepted recipient (RFC 2033 §4.2). sendmail() itself is
// used with one recipient, where it is right.
const lmtpScript = `
import json, smtplib, sys
target, message = sys.argv[1], sys.stdin.buffer.read()
s = smtplib.LMTP(target, timeout=15) if target.startswith("/") else smtplib.LMTP("127.0.0.1", int(target), timeout=15)
code, _ = s.ehlo("client.example")
result = {"lhlo": code, "features": sorted(s.esmtp_features)}
def send(sender, recipients):
    refused, accepted = {}, []
    s.mail(sender)
    for rcpt in recipients:
        code, resp = s.rcpt(rcpt)
        if code in (250, 251): accepted.append(rcpt)
        else: refused[rcpt] = [code, resp.decode()]
    replies = [s.data(message)] + [s.getreply() for _ in accepted[1:]]
    for rcpt, (code, resp) in zip(accepted, replies):
        if code != 250: refused[rcpt] = [code, resp.decode()]
    return refused
result["three"] = send("s@example.com", ["a@example.com", "gone@example.com", "c@example.com"])
result["one"] = s.sendmail("s@example.com", ["one@example.com"], message)
try:
    s.sendmail("s@example.com", ["full@example.com"], message)
except smtplib.SMTPDataError as e:
    result["full"] = [e.smtp_code, e.smtp_error.decode()]
result["quit"] = s.quit()[0]
print(json.dumps(result))
`

describe.skipIf(skipWithout("python3"))("smtplib.LMTP", () => {
  it.live("LHLO, then one reply per recipient after the data, over TCP and a Unix socket", () =>
    Effect.gen(function* () {
      const server = yield* lmtpServer(yield* tempDir)
      const message = "Subject: smtplib lmtp\r\n\r\n.leading dot\r\nbody\r\n"
      for (const [name, target] of targets(server.port, server.socket)) {
        const run = yield* python(lmtpScript, ["port" in target ? String(target.port) : target.socket], {
          input: message
        })
        expect(run.exitCode, `${name}: ${run.stderr}`).toBe(0)
        expect(JSON.parse(run.stdout), name).toEqual({
          lhlo: 250,
          features: ["8bitmime", "binarymime", "chunking", "dsn", "enhancedstatuscodes", "pipelining", "size"],
          three: { "gone@example.com": [550, "5.1.1 <gone@example.com> No such mailbox"] },
          one: {},
          full: [452, "4.2.2 <full@example.com> Mailbox full"],
          quit: 221
        })
      }
      const stored = yield* server.stored
      expect(stored.map((message) => message.accepted)).toEqual([
        ...[["a@example.com", "c@example.com"], ["one@example.com"], []],
        ...[["a@example.com", "c@example.com"], ["one@example.com"], []]
      ])
      for (const each of stored) expect(text(each.data)).toBe(message)
    })
  )
})

describe.skipIf(skipWithout("swaks"))("effect-smtpd --lmtp -c Maildir", () => {
  it.live("stores what swaks delivers over TCP with a Received: field that says LMTP", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const maildir = Path.join(dir, "mail")
      const server = yield* command(main, ["-c", "Maildir", "--maildir", maildir, "--lmtp", "127.0.0.1:0"])
      const result = yield* swaks({ port: server.port }, ["solo@example.com"])
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      const files = Fs.readdirSync(Path.join(maildir, "new"))
      expect(files).toHaveLength(1)
      const stored = Fs.readFileSync(Path.join(maildir, "new", files[0]!), "latin1")
      // RFC 5321 §4.4 and RFC 3848: the client's LHLO name and address, and LMTP as the protocol
      expect(stored).toMatch(
        /^Received: from client\.example \(\[127\.0\.0\.1\]\)\s+by \S+\s+with LMTP\s+id \S+\s+for <solo@example\.com>;/m
      )
      expect(stored).toContain("\r\n\r\nper recipient\r\n")
    })
  )
})
