// What the inbox interop tests (issue 16) share: the fixtures they attach (a PDF with every byte
// value, a PNG, incompressible bytes), the shapes of Mailpit's API v1 answers and the requests that
// read them, and the clients that send mail to the inbox (Python's smtplib and email package,
// nodemailer, swaks, a raw SMTP session) with the messages they send.
//
// What the clients send: smtplib's sendmail with bytes sends them as they are (dot-stuffed), so
// the stored source must equal the bytes the email package made; nodemailer's raw messages are
// sent as they are too; swaks builds its own message (and shows every line it sends).
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import nodemailer, { type SendMailOptions } from "nodemailer"
import type { Page } from "../../src/inbox/InboxClient.js"
import type { Message, Summary } from "../../src/inbox/InboxMessage.js"
import { getJson, type InboxProcess, poll, request } from "./inboxProcess.js"
import { runProcess } from "./process.js"
import * as QP from "./queueProcess.js"
import { python3 } from "./tools.js"

// --- fixtures ----------------------------------------------------------------------------------

// a small PDF with binary bytes in it (every byte value once)
export const pdf = Buffer.concat([
  Buffer.from("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\nstream\n", "latin1"),
  Buffer.from(Uint8Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from("\nendstream\n%%EOF\n")
])

// a 1x1 PNG
export const png = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64"
)

// `size` bytes of a xorshift sequence: incompressible, the same every run
export const pseudoRandom = (size: number, seed = 0x9e3779b9): Buffer => {
  const words = new Uint32Array(Math.ceil(size / 4))
  let x = seed >>> 0
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    words[i] = x
  }
  return Buffer.from(words.buffer, 0, size)
}

// --- the API's answers (the shapes are the server's own types: src/inbox) ----------------------

export const list = (inbox: InboxProcess, params = "") =>
  Effect.map(getJson(inbox.web, `/api/v1/messages${params}`), (page) => page as Page)

export const search = (inbox: InboxProcess, query: string, params = "") =>
  Effect.map(getJson(inbox.web, `/api/v1/search?query=${encodeURIComponent(query)}${params}`), (page) => page as Page)

export const subjects = (page: Page) => page.messages.map((m) => m.Subject)

export const message = (inbox: InboxProcess, id: string) =>
  Effect.map(getJson(inbox.web, `/api/v1/message/${id}`), (m) => m as Message)

export const headers = (inbox: InboxProcess, id: string) =>
  Effect.map(getJson(inbox.web, `/api/v1/message/${id}/headers`), (h) => h as Record<string, ReadonlyArray<string>>)

// the stored source, which must be served with 200
export const raw = (inbox: InboxProcess, id: string) =>
  Effect.map(request(inbox.web, `/api/v1/message/${id}/raw`), (answer) => {
    expect(answer.status, answer.text).toBe(200)
    return answer.body
  })

export const part = (inbox: InboxProcess, id: string, partId: string) =>
  request(inbox.web, `/api/v1/message/${id}/part/${partId}`)

export const info = (inbox: InboxProcess) =>
  Effect.map(
    getJson(inbox.web, "/api/v1/info"),
    (i) => i as { Messages: number; Unread: number; Tags: Record<string, number> }
  )

// the list once it holds `n` messages
export const listed = (inbox: InboxProcess, n: number) =>
  Effect.map(
    poll(list(inbox), (page) => page.total >= n),
    (page) => {
      expect(page.total).toBe(n)
      return page
    }
  )

// the summary with this subject in the list (there must be one)
export const bySubject = (page: Page, subject: string) => {
  const found = page.messages.filter((m) => m.Subject === subject)
  expect(
    found.map((m) => m.Subject),
    `one message "${subject}" in ${JSON.stringify(subjects(page))}`
  ).toEqual([subject])
  return found[0]!
}

// a JSON error: the status and {"Error": "…"}
export const expectError = (answer: { status: number; json: any; headers: Headers; text: string }, status: number) => {
  expect(answer.status, answer.text).toBe(status)
  expect(answer.headers.get("content-type") ?? "").toMatch(/^application\/json/)
  expect(typeof answer.json?.Error, answer.text).toBe("string")
  expect(answer.json.Error.length).toBeGreaterThan(0)
}

// the server is still there and answers
export const healthy = (inbox: InboxProcess) =>
  Effect.gen(function* () {
    expect(inbox.running(), inbox.stderr()).toBe(true)
    const answer = yield* request(inbox.web, "/api/v1/info")
    expect(answer.status, answer.text).toBe(200)
  })

// the creation time is an RFC 3339 date between `from` and now
export const createdWithin = (summary: Summary, from: number) => {
  expect(summary.Created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/)
  const at = Date.parse(summary.Created)
  expect(at).toBeGreaterThanOrEqual(from - 1000)
  expect(at).toBeLessThanOrEqual(Date.now() + 1000)
}

// --- clients -------------------------------------------------------------------------------------

// Python with the email package: `messages` is a list of (from, [to], EmailMessage or bytes,
// mail_options); each is sent with smtplib in one session, and the bytes sent are written to
// DIR/sent-N.eml. Files the test wrote are read with read("name").
export const smtplibHarness = `import json, os, smtplib, sys
from email.message import EmailMessage
from email.headerregistry import Address
from email.policy import SMTP
DIR = os.environ["DIR"]
def read(name):
    with open(os.path.join(DIR, name), "rb") as f:
        return f.read()
def run(messages):
    s = smtplib.SMTP("127.0.0.1", int(os.environ["SMTP_PORT"]), timeout=60)
    s.ehlo("client.example")
    sizes = []
    for i, (frm, to, msg, options) in enumerate(messages):
        data = msg if isinstance(msg, bytes) else msg.as_bytes(policy=SMTP)
        with open(os.path.join(DIR, "sent-%d.eml" % i), "wb") as f:
            f.write(data)
        s.sendmail(frm, to, data, mail_options=options)
        sizes.append(len(data))
    s.quit()
    print(json.dumps(sizes))
`

// runs `script` (which calls run(...)) against `inbox`; the bytes of each message sent
export const smtplib = (inbox: InboxProcess, dir: string, script: string) =>
  Effect.gen(function* () {
    const result = yield* runProcess(python3, ["-c", smtplibHarness + script], {
      env: { DIR: dir, SMTP_PORT: String(inbox.port) },
      timeout: "50 seconds"
    })
    expect(result.exitCode, `python3 failed:\n${result.stderr}`).toBe(0)
    const sizes = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as ReadonlyArray<number>
    return sizes.map((size, i) => {
      const bytes = Fs.readFileSync(Path.join(dir, `sent-${i}.eml`))
      expect(bytes.length).toBe(size)
      return bytes
    })
  })

export const nodemailerSend = (inbox: InboxProcess, mail: SendMailOptions) =>
  Effect.promise(() =>
    nodemailer
      .createTransport({ host: "127.0.0.1", port: inbox.port, secure: false, ignoreTLS: true, name: "client.example" })
      .sendMail(mail)
  )

export const swaks = (inbox: InboxProcess, args: ReadonlyArray<string>) =>
  runProcess("swaks", ["--server", "127.0.0.1", "--port", String(inbox.port), "--helo", "client.example", ...args])

// the message a swaks transcript shows it sent after DATA (its " -> " lines up to the dot)
export const swaksData = (transcript: string): Buffer => {
  const lines = transcript.split("\n")
  const start = lines.findIndex((line) => line.startsWith("<-  354"))
  const end = lines.findIndex((line, i) => i > start && /^ -> \.\r?$/.test(line))
  expect(start, transcript).toBeGreaterThan(0)
  expect(end, transcript).toBeGreaterThan(start)
  const sent = lines.slice(start + 1, end).map((line) => {
    expect(line.startsWith(" -> "), line).toBe(true)
    return line.slice(4).replace(/\r$/, "").replace(/^\.\./, ".")
  })
  return Buffer.from(sent.map((line) => line + "\r\n").join(""), "utf8")
}

// a message over a raw SMTP session (test/utils/queueProcess.ts), its content sent as UTF-8: its
// 250 reply
export const sendRaw = (inbox: InboxProcess, content: string, from = "sender@example.com", to = ["rcpt@example.net"]) =>
  Effect.map(QP.send(inbox.port, [{ from, to, content }]), ([reply]) => {
    expect(reply).toMatch(/^250 /)
    return reply!
  })

// a plain message with these fields (CRLF, ends with CRLF)
export const plain = (fields: { from: string; to: string; subject: string; body: string; extra?: string }) =>
  `From: ${fields.from}\r\nTo: ${fields.to}\r\nSubject: ${fields.subject}\r\n${fields.extra ?? ""}` +
  `Message-ID: <${fields.subject.replace(/\W/g, "-")}@example.test>\r\n\r\n${fields.body}\r\n`

// a multipart/mixed message with a text part and one attachment
export const withAttachment = (fields: { from: string; to: string; subject: string; body: string }, file: string) =>
  `From: ${fields.from}\r\nTo: ${fields.to}\r\nSubject: ${fields.subject}\r\nMIME-Version: 1.0\r\n` +
  `Content-Type: multipart/mixed; boundary="b1"\r\n\r\n` +
  `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${fields.body}\r\n` +
  `--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${file}"\r\n` +
  `Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1--\r\n`
