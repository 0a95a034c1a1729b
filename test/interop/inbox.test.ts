// `--class Inbox` as its users meet it (issue 16): the built command in a child process, mail
// sent to it by real clients (Python's smtplib and email package, nodemailer, swaks) and read
// back through Mailpit's HTTP API v1 on --web, its websocket at /api/events, and its --inbox file
// across a restart. Every test starts its own server.
//
// What the clients send: smtplib's sendmail with bytes sends them as they are (dot-stuffed), so
// the stored source must equal the bytes the email package made; nodemailer's raw messages are
// sent as they are too; swaks builds its own message (and shows every line it sends).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import nodemailer, { type SendMailOptions } from "nodemailer"
import MailComposer from "nodemailer/lib/mail-composer"
import { builtCommand } from "../utils/command.js"
import { events, getJson, type InboxProcess, inboxProcess, poll, request, tempDir } from "../utils/inboxProcess.js"
import { runProcess } from "../utils/process.js"
import * as QP from "../utils/queueProcess.js"
import { python3, skipWithout } from "../utils/tools.js"

const main = builtCommand()

// --- fixtures ----------------------------------------------------------------------------------

// a small PDF with binary bytes in it (every byte value once)
const pdf = Buffer.concat([
  Buffer.from("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\nstream\n", "latin1"),
  Buffer.from(Uint8Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from("\nendstream\n%%EOF\n")
])

// a 1x1 PNG
const png = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64"
)

// `size` bytes of a xorshift sequence: incompressible, the same every run
const pseudoRandom = (size: number, seed = 0x9e3779b9): Buffer => {
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

// --- API shapes ----------------------------------------------------------------------------------

interface Address {
  readonly Name: string
  readonly Address: string
}

interface Part {
  readonly PartID: string
  readonly FileName: string
  readonly ContentType: string
  readonly ContentID: string
  readonly Size: number
}

interface Summary {
  readonly ID: string
  readonly MessageID: string
  readonly Read: boolean
  readonly From: Address
  readonly To: ReadonlyArray<Address>
  readonly Subject: string
  readonly Created: string
  readonly Tags: ReadonlyArray<string>
  readonly Size: number
  readonly Attachments: number
  readonly Snippet: string
}

interface Page {
  readonly total: number
  readonly unread: number
  readonly count: number
  readonly messages_count: number
  readonly start: number
  readonly tags: ReadonlyArray<string>
  readonly messages: ReadonlyArray<Summary>
}

interface Message {
  readonly ID: string
  readonly MessageID: string
  readonly From: Address
  readonly To: ReadonlyArray<Address>
  readonly Subject: string
  readonly Text: string
  readonly HTML: string
  readonly Size: number
  readonly Tags: ReadonlyArray<string>
  readonly Inline: ReadonlyArray<Part>
  readonly Attachments: ReadonlyArray<Part>
}

const list = (inbox: InboxProcess, params = "") =>
  Effect.map(getJson(inbox.web, `/api/v1/messages${params}`), (page) => page as Page)

const search = (inbox: InboxProcess, query: string, params = "") =>
  Effect.map(getJson(inbox.web, `/api/v1/search?query=${encodeURIComponent(query)}${params}`), (page) => page as Page)

const subjects = (page: Page) => page.messages.map((m) => m.Subject)

const message = (inbox: InboxProcess, id: string) =>
  Effect.map(getJson(inbox.web, `/api/v1/message/${id}`), (m) => m as Message)

const headers = (inbox: InboxProcess, id: string) =>
  Effect.map(getJson(inbox.web, `/api/v1/message/${id}/headers`), (h) => h as Record<string, ReadonlyArray<string>>)

// the stored source, which must be served with 200
const raw = (inbox: InboxProcess, id: string) =>
  Effect.map(request(inbox.web, `/api/v1/message/${id}/raw`), (answer) => {
    expect(answer.status, answer.text).toBe(200)
    return answer.body
  })

const part = (inbox: InboxProcess, id: string, partId: string) =>
  request(inbox.web, `/api/v1/message/${id}/part/${partId}`)

const info = (inbox: InboxProcess) =>
  Effect.map(
    getJson(inbox.web, "/api/v1/info"),
    (i) => i as { Messages: number; Unread: number; Tags: Record<string, number> }
  )

// the list once it holds `n` messages
const listed = (inbox: InboxProcess, n: number) =>
  Effect.map(
    poll(list(inbox), (page) => page.total >= n),
    (page) => {
      expect(page.total).toBe(n)
      return page
    }
  )

// the summary with this subject in the list (there must be one)
const bySubject = (page: Page, subject: string) => {
  const found = page.messages.filter((m) => m.Subject === subject)
  expect(
    found.map((m) => m.Subject),
    `one message "${subject}" in ${JSON.stringify(subjects(page))}`
  ).toEqual([subject])
  return found[0]!
}

// a JSON error: the status and {"Error": "…"}
const expectError = (answer: { status: number; json: any; headers: Headers; text: string }, status: number) => {
  expect(answer.status, answer.text).toBe(status)
  expect(answer.headers.get("content-type") ?? "").toMatch(/^application\/json/)
  expect(typeof answer.json?.Error, answer.text).toBe("string")
  expect(answer.json.Error.length).toBeGreaterThan(0)
}

// the server is still there and answers
const healthy = (inbox: InboxProcess) =>
  Effect.gen(function* () {
    expect(inbox.running(), inbox.stderr()).toBe(true)
    const answer = yield* request(inbox.web, "/api/v1/info")
    expect(answer.status, answer.text).toBe(200)
  })

// the creation time is an RFC 3339 date between `from` and now
const createdWithin = (summary: Summary, from: number) => {
  expect(summary.Created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/)
  const at = Date.parse(summary.Created)
  expect(at).toBeGreaterThanOrEqual(from - 1000)
  expect(at).toBeLessThanOrEqual(Date.now() + 1000)
}

// --- clients -------------------------------------------------------------------------------------

// Python with the email package: `messages` is a list of (from, [to], EmailMessage or bytes,
// mail_options); each is sent with smtplib in one session, and the bytes sent are written to
// DIR/sent-N.eml. Files the test wrote are read with read("name").
const smtplibHarness = `import json, os, smtplib, sys
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
const smtplib = (inbox: InboxProcess, dir: string, script: string) =>
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

const nodemailerSend = (inbox: InboxProcess, mail: SendMailOptions) =>
  Effect.promise(() =>
    nodemailer
      .createTransport({ host: "127.0.0.1", port: inbox.port, secure: false, ignoreTLS: true, name: "client.example" })
      .sendMail(mail)
  )

const swaks = (inbox: InboxProcess, args: ReadonlyArray<string>) =>
  runProcess("swaks", ["--server", "127.0.0.1", "--port", String(inbox.port), "--helo", "client.example", ...args])

// the message a swaks transcript shows it sent after DATA (its " -> " lines up to the dot)
const swaksData = (transcript: string): Buffer => {
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
const sendRaw = (inbox: InboxProcess, content: string, from = "sender@example.com", to = ["rcpt@example.net"]) =>
  Effect.map(QP.send(inbox.port, [{ from, to, content }]), ([reply]) => {
    expect(reply).toMatch(/^250 /)
    return reply!
  })

// a plain message with these fields (CRLF, ends with CRLF)
const plain = (fields: { from: string; to: string; subject: string; body: string; extra?: string }) =>
  `From: ${fields.from}\r\nTo: ${fields.to}\r\nSubject: ${fields.subject}\r\n${fields.extra ?? ""}` +
  `Message-ID: <${fields.subject.replace(/\W/g, "-")}@example.test>\r\n\r\n${fields.body}\r\n`

// a multipart/mixed message with a text part and one attachment
const withAttachment = (fields: { from: string; to: string; subject: string; body: string }, file: string) =>
  `From: ${fields.from}\r\nTo: ${fields.to}\r\nSubject: ${fields.subject}\r\nMIME-Version: 1.0\r\n` +
  `Content-Type: multipart/mixed; boundary="b1"\r\n\r\n` +
  `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${fields.body}\r\n` +
  `--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${file}"\r\n` +
  `Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1--\r\n`

// --- 1. real clients -----------------------------------------------------------------------------

describe.skipIf(skipWithout("python3"))("the inbox and Python's smtplib", () => {
  it.live(
    "keeps multipart/mixed with a PDF, multipart/related with a cid: image and an 8-bit body; the API shows them",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        Fs.writeFileSync(Path.join(dir, "in.pdf"), pdf)
        Fs.writeFileSync(Path.join(dir, "in.png"), png)
        const inbox = yield* inboxProcess(main)
        const before = Date.now()
        const [mixed, related, eightBit] = yield* smtplib(
          inbox,
          dir,
          `
m1 = EmailMessage()
m1["From"] = Address("Jörg Müller", addr_spec="joerg@example.com")
m1["To"] = Address("Zoë Ångström", addr_spec="zoe@example.net")
m1["Subject"] = "Grüße aus Köln: Rechnung Nr. 42"
m1["Message-ID"] = "<mixed.1@example.com>"
m1["Date"] = "Mon, 07 Dec 2026 10:00:00 +0000"
m1.set_content("Hallo Zoë,\\nanbei die Rechnung.\\n")
m1.add_attachment(read("in.pdf"), maintype="application", subtype="pdf", filename="rechnung.pdf")

m2 = EmailMessage()
m2["From"] = "Web Team <web@example.com>"
m2["To"] = "reader@example.net"
m2["Subject"] = "Newsletter with a logo"
m2["Message-ID"] = "<related.2@example.com>"
m2.set_content("Plain version: see our logo.\\n")
m2.add_alternative('<html><body><p>Our logo:</p><img src="cid:logo@example.com"></body></html>\\n', subtype="html")
m2.get_payload()[1].add_related(read("in.png"), "image", "png", cid="<logo@example.com>")

m3 = EmailMessage()
m3["From"] = "eight@example.com"
m3["To"] = "bit@example.net"
m3["Subject"] = "8-bit body"
m3["Message-ID"] = "<eight.3@example.com>"
m3.set_content("Grüße aus Köln, 8 bit and no encoding: ✓ ½ €\\n", cte="8bit")

run([
    ("joerg@example.com", ["zoe@example.net"], m1, []),
    ("web@example.com", ["reader@example.net"], m2, []),
    ("eight@example.com", ["bit@example.net"], m3, ["BODY=8BITMIME"]),
])
`
        )
        // what Python made: RFC 2047 words in the header, an 8-bit body as it is
        expect(mixed!.toString("latin1")).toMatch(/^Subject: =\?utf-8\?/im)
        expect(eightBit!.includes(Buffer.from("Köln, 8 bit and no encoding: ✓ ½ €"))).toBe(true)

        const page = yield* listed(inbox, 3)
        expect(page).toMatchObject({ total: 3, unread: 3, messages_count: 3, count: 3, start: 0 })
        // newest first
        expect(subjects(page)).toEqual(["8-bit body", "Newsletter with a logo", "Grüße aus Köln: Rechnung Nr. 42"])
        const [s3, s2, s1] = page.messages
        for (const s of page.messages) {
          expect(s.Read).toBe(false)
          expect(s.ID).toMatch(/^[A-Za-z0-9]{10,}$/)
          createdWithin(s, before)
        }
        expect(s1).toMatchObject({
          MessageID: "mixed.1@example.com",
          From: { Name: "Jörg Müller", Address: "joerg@example.com" },
          To: [{ Name: "Zoë Ångström", Address: "zoe@example.net" }],
          Attachments: 1,
          Size: mixed!.length,
          Snippet: "Hallo Zoë, anbei die Rechnung."
        })
        expect(s2).toMatchObject({
          From: { Name: "Web Team", Address: "web@example.com" },
          To: [{ Name: "", Address: "reader@example.net" }],
          Attachments: 0,
          Size: related!.length,
          Snippet: "Plain version: see our logo."
        })
        expect(s3).toMatchObject({
          From: { Name: "", Address: "eight@example.com" },
          Attachments: 0,
          Size: eightBit!.length,
          Snippet: "Grüße aus Köln, 8 bit and no encoding: ✓ ½ €"
        })

        // the source, byte for byte, for each (not marking anything read)
        expect((yield* raw(inbox, s1!.ID)).equals(mixed!)).toBe(true)
        expect((yield* raw(inbox, s2!.ID)).equals(related!)).toBe(true)
        expect((yield* raw(inbox, s3!.ID)).equals(eightBit!)).toBe(true)
        const rawAnswer = yield* request(inbox.web, `/api/v1/message/${s1!.ID}/raw`)
        expect(rawAnswer.headers.get("content-type")).toMatch(/^text\/plain/)

        // the headers: canonical names, arrays, values as sent (not decoded)
        const h1 = yield* headers(inbox, s1!.ID)
        expect(h1["Message-Id"]).toEqual(["<mixed.1@example.com>"])
        expect(h1["Mime-Version"]).toEqual(["1.0"])
        expect(h1["Date"]).toEqual(["Mon, 07 Dec 2026 10:00:00 +0000"])
        expect(h1["Subject"]).toHaveLength(1)
        expect(h1["Subject"]![0]).toMatch(/^=\?utf-8\?/i)
        expect(h1["Content-Type"]![0]).toMatch(/^multipart\/mixed;/)
        for (const values of Object.values(h1)) expect(Array.isArray(values)).toBe(true)
        expect(Object.keys(h1)).toEqual([...Object.keys(h1)].sort())
        expect((yield* list(inbox)).unread).toBe(3)

        // the mixed message: its text and the PDF
        const m1 = yield* message(inbox, s1!.ID)
        expect(m1).toMatchObject({
          ID: s1!.ID,
          MessageID: "mixed.1@example.com",
          Subject: "Grüße aus Köln: Rechnung Nr. 42",
          From: { Name: "Jörg Müller", Address: "joerg@example.com" },
          HTML: "",
          Size: mixed!.length,
          Inline: []
        })
        expect(m1.Text.trim()).toBe("Hallo Zoë,\nanbei die Rechnung.")
        expect(m1.Attachments).toEqual([
          {
            PartID: expect.any(String),
            FileName: "rechnung.pdf",
            ContentType: "application/pdf",
            ContentID: "",
            Size: pdf.length
          }
        ])
        const pdfPart = yield* part(inbox, s1!.ID, m1.Attachments[0]!.PartID)
        expect(pdfPart.status).toBe(200)
        expect(pdfPart.headers.get("content-type")).toBe("application/pdf")
        expect(pdfPart.body.equals(pdf)).toBe(true)
        // opened: read now, the others not
        const afterOpen = yield* list(inbox)
        expect(afterOpen.unread).toBe(2)
        expect(afterOpen.messages.map((m) => m.Read)).toEqual([false, false, true])

        // the related message: text and HTML, the image inline with its Content-ID (its name)
        const m2 = yield* message(inbox, s2!.ID)
        expect(m2.Text.trim()).toBe("Plain version: see our logo.")
        expect(m2.HTML).toContain('<img src="cid:logo@example.com">')
        expect(m2.Attachments).toEqual([])
        expect(m2.Inline).toEqual([
          {
            PartID: expect.any(String),
            FileName: "logo@example.com",
            ContentType: "image/png",
            ContentID: "logo@example.com",
            Size: png.length
          }
        ])
        const image = yield* part(inbox, s2!.ID, m2.Inline[0]!.PartID)
        expect(image.status).toBe(200)
        expect(image.headers.get("content-type")).toBe("image/png")
        expect(image.body.equals(png)).toBe(true)

        // the 8-bit message, as `latest`
        const latest = yield* message(inbox, "latest")
        expect(latest.ID).toBe(s3!.ID)
        expect(latest.Text.trim()).toBe("Grüße aus Köln, 8 bit and no encoding: ✓ ½ €")
        expect((yield* raw(inbox, "latest")).equals(eightBit!)).toBe(true)
        expect((yield* headers(inbox, "latest"))["Message-Id"]).toEqual(["<eight.3@example.com>"])
        const all = yield* list(inbox)
        expect(all.unread).toBe(0)
        expect(all.messages.map((m) => m.Read)).toEqual([true, true, true])
      }),
    60_000
  )

  it.live(
    "keeps a 20 MiB attachment (--size 0): listed with its size, the part downloads byte for byte",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const big = pseudoRandom(20 * 1024 * 1024)
        Fs.writeFileSync(Path.join(dir, "big.bin"), big)
        const inbox = yield* inboxProcess(main, ["--size", "0"])
        const [sent] = yield* smtplib(
          inbox,
          dir,
          `
m = EmailMessage()
m["From"] = "big@example.com"
m["To"] = "store@example.net"
m["Subject"] = "twenty MiB"
m.set_content("A big one.\\n")
m.add_attachment(read("big.bin"), maintype="application", subtype="octet-stream", filename="big.bin")
run([("big@example.com", ["store@example.net"], m, [])])
`
        )
        expect(sent!.length).toBeGreaterThan(27_000_000)
        const page = yield* listed(inbox, 1)
        expect(page.messages[0]).toMatchObject({ Subject: "twenty MiB", Size: sent!.length, Attachments: 1 })
        const id = page.messages[0]!.ID
        const m = yield* message(inbox, id)
        expect(m.Attachments).toEqual([
          {
            PartID: expect.any(String),
            FileName: "big.bin",
            ContentType: "application/octet-stream",
            ContentID: "",
            Size: big.length
          }
        ])
        const download = yield* part(inbox, id, m.Attachments[0]!.PartID)
        expect(download.status).toBe(200)
        expect(download.body.length).toBe(big.length)
        expect(download.body.equals(big)).toBe(true)
        expect((yield* raw(inbox, id)).equals(sent!)).toBe(true)
        yield* healthy(inbox)
      }),
    60_000
  )
})

describe("the inbox and nodemailer", () => {
  it.live(
    "keeps text, HTML, an attachment and an inline cid: image, source byte for byte",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const csv = "name,count\nalpha,1\nbeta,2\n"
        const mail: SendMailOptions = {
          from: "Nodemailer Test <nm@example.com>",
          to: "Reader <reader@example.org>",
          subject: "Mixed content from nodemailer",
          messageId: "<nm.1@example.com>",
          text: "Hello from nodemailer, in plain text.",
          html: '<p>Hello from <b>nodemailer</b></p><img src="cid:chart@nodemailer.test">',
          attachments: [
            { filename: "data.csv", content: csv, contentType: "text/csv" },
            { filename: "page.html", content: "<script>alert(1)</script>", contentType: "text/html" },
            { filename: "chart.png", content: png, contentType: "image/png", cid: "chart@nodemailer.test" }
          ]
        }
        const built = yield* Effect.promise(() => new MailComposer(mail).compile().build())
        const sent = yield* nodemailerSend(inbox, {
          envelope: { from: "nm@example.com", to: ["reader@example.org"] },
          raw: built
        })
        expect(sent.accepted).toEqual(["reader@example.org"])
        const page = yield* listed(inbox, 1)
        const summary = page.messages[0]!
        expect(summary).toMatchObject({
          MessageID: "nm.1@example.com",
          From: { Name: "Nodemailer Test", Address: "nm@example.com" },
          To: [{ Name: "Reader", Address: "reader@example.org" }],
          Subject: "Mixed content from nodemailer",
          Attachments: 2,
          Size: built.length,
          Snippet: "Hello from nodemailer, in plain text."
        })
        expect((yield* raw(inbox, summary.ID)).equals(built)).toBe(true)
        const m = yield* message(inbox, summary.ID)
        expect(m.Text.trim()).toBe("Hello from nodemailer, in plain text.")
        expect(m.HTML).toBe('<p>Hello from <b>nodemailer</b></p><img src="cid:chart@nodemailer.test">')
        expect(m.Attachments).toEqual([
          {
            PartID: expect.any(String),
            FileName: "data.csv",
            ContentType: "text/csv",
            ContentID: "",
            Size: Buffer.byteLength(csv)
          },
          {
            PartID: expect.any(String),
            FileName: "page.html",
            ContentType: "text/html",
            ContentID: "",
            Size: 25
          }
        ])
        expect(m.Inline).toEqual([
          {
            PartID: expect.any(String),
            FileName: "chart.png",
            ContentType: "image/png",
            ContentID: "chart@nodemailer.test",
            Size: png.length
          }
        ])
        expect((yield* part(inbox, summary.ID, m.Attachments[0]!.PartID)).text).toBe(csv)
        // HTML from a message is never served as a page of ours: a download
        const html = yield* part(inbox, summary.ID, m.Attachments[1]!.PartID)
        expect(html.text).toBe("<script>alert(1)</script>")
        expect(html.headers.get("content-type")).toBe("application/octet-stream")
        expect(html.headers.get("content-disposition")).toBe('attachment; filename="page.html"')
        expect((yield* part(inbox, summary.ID, m.Inline[0]!.PartID)).body.equals(png)).toBe(true)
        expect((yield* headers(inbox, summary.ID))["Message-Id"]).toEqual(["<nm.1@example.com>"])
        expect((yield* list(inbox)).messages[0]!.Read).toBe(true)
      }),
    60_000
  )

  it.live(
    "keeps a message with UTF-8 addresses sent with SMTPUTF8 (-u): the API shows them, search finds them",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main, ["-u"])
        const sent = yield* nodemailerSend(inbox, {
          from: "Jörg <jörg@exämple.com>",
          to: "Zoë <zoë@exämple.com>",
          subject: "Grüße über SMTPUTF8",
          text: "Ünïcödé everywhere."
        })
        expect(sent.accepted).toEqual(["zoë@exämple.com"])
        const page = yield* listed(inbox, 1)
        expect(page.messages[0]).toMatchObject({
          From: { Name: "Jörg", Address: "jörg@exämple.com" },
          To: [{ Name: "Zoë", Address: "zoë@exämple.com" }],
          Subject: "Grüße über SMTPUTF8",
          Snippet: "Ünïcödé everywhere."
        })
        const m = yield* message(inbox, page.messages[0]!.ID)
        expect(m.From).toEqual({ Name: "Jörg", Address: "jörg@exämple.com" })
        expect(m.To).toEqual([{ Name: "Zoë", Address: "zoë@exämple.com" }])
        expect(subjects(yield* search(inbox, "from:jörg@exämple.com"))).toEqual(["Grüße über SMTPUTF8"])
        expect(subjects(yield* search(inbox, "to:zoë"))).toEqual(["Grüße über SMTPUTF8"])
        expect(subjects(yield* search(inbox, "ünïcödé"))).toEqual(["Grüße über SMTPUTF8"])
        // /headers gives each field's value as it is in the source (UTF-8 there, so UTF-8 here)
        const source = (yield* raw(inbox, m.ID)).toString("utf8")
        const h = yield* headers(inbox, m.ID)
        for (const name of ["From", "To", "Subject"]) {
          const line = new RegExp(`^${name}:[ \\t]*(.*(?:\\r\\n[ \\t].*)*)`, "im").exec(source)![1]!
          const value = line
            .split(/\r\n/)
            .map((l) => l.trim())
            .join(" ")
          expect(h[name], `${name} in ${JSON.stringify(h)}`).toEqual([value])
        }
        expect(h["From"]![0]).toContain("jörg@exämple.com")
      }),
    60_000
  )
})

describe.skipIf(skipWithout("swaks"))("the inbox and swaks", () => {
  it.live(
    "keeps swaks' own message and one with --attach; the source is what swaks sent",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const inbox = yield* inboxProcess(main)
        const plainRun = yield* swaks(inbox, [
          "--from",
          "swaks@example.com",
          "--to",
          "plain@example.net",
          "--header",
          "Subject: swaks plain",
          "--body",
          "Plain body from swaks"
        ])
        expect(plainRun.exitCode, plainRun.stdout + plainRun.stderr).toBe(0)
        const file = Path.join(dir, "payload.bin")
        const payload = pseudoRandom(3000, 7)
        Fs.writeFileSync(file, payload)
        const attachRun = yield* swaks(inbox, [
          "--from",
          "swaks@example.com",
          "--to",
          "attach@example.net",
          "--header",
          "Subject: swaks attach",
          "--body",
          "See the attachment.",
          "--attach-type",
          "application/octet-stream",
          "--attach",
          `@${file}`
        ])
        expect(attachRun.exitCode, attachRun.stdout + attachRun.stderr).toBe(0)

        const page = yield* listed(inbox, 2)
        expect(subjects(page)).toEqual(["swaks attach", "swaks plain"])
        const [attached, simple] = page.messages
        expect(simple).toMatchObject({
          From: { Name: "", Address: "swaks@example.com" },
          To: [{ Name: "", Address: "plain@example.net" }],
          Attachments: 0,
          Snippet: "Plain body from swaks"
        })
        const plainSent = swaksData(plainRun.stdout)
        expect(simple!.Size).toBe(plainSent.length)
        expect((yield* raw(inbox, simple!.ID)).toString("utf8")).toBe(plainSent.toString("utf8"))
        expect((yield* headers(inbox, simple!.ID))["X-Mailer"]![0]).toMatch(/^swaks/)

        expect(attached).toMatchObject({ To: [{ Name: "", Address: "attach@example.net" }], Attachments: 1 })
        expect(attached!.Size).toBe(swaksData(attachRun.stdout).length)
        const m = yield* message(inbox, attached!.ID)
        expect(m.Text.trim()).toBe("See the attachment.")
        expect(m.Attachments).toEqual([
          {
            PartID: expect.any(String),
            FileName: "payload.bin",
            ContentType: "application/octet-stream",
            ContentID: "",
            Size: payload.length
          }
        ])
        const download = yield* part(inbox, attached!.ID, m.Attachments[0]!.PartID)
        expect(download.body.equals(payload)).toBe(true)
      }),
    60_000
  )
})

// --- 3. search -----------------------------------------------------------------------------------

describe("the inbox's search", () => {
  it.live(
    "from:, to:, subject:, words, quoted phrases, is:read/unread, has:attachment, negation; paging",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const fixtures = [
          withAttachment(
            {
              from: "Alice <alice@example.com>",
              to: "bob@example.net",
              subject: "Quarterly report",
              body: "The numbers are in."
            },
            "q3.xlsx"
          ),
          plain({
            from: "carol@example.org",
            to: "Bob <bob@example.net>",
            subject: "Lunch plans",
            body: "Meet at the blue door cafe?"
          }),
          plain({
            from: "alice@example.com",
            to: "dave@example.com",
            subject: "Re: Lunch plans",
            body: "The blue door sounds good."
          }),
          withAttachment(
            { from: "eve@example.com", to: "dave@example.com", subject: "Invoice 7", body: "See the invoice." },
            "invoice.pdf"
          )
        ]
        for (const content of fixtures) yield* sendRaw(inbox, content)
        for (let n = 0; n < 12; n++) {
          yield* sendRaw(
            inbox,
            plain({ from: "bulk@example.com", to: "list@example.net", subject: `bulk ${n}`, body: `Bulk number ${n}.` })
          )
        }
        yield* listed(inbox, 16)

        const found = (query: string) => Effect.map(search(inbox, query), subjects)
        expect(yield* found("from:alice")).toEqual(["Re: Lunch plans", "Quarterly report"])
        expect(yield* found("from:ALICE@EXAMPLE.COM")).toEqual(["Re: Lunch plans", "Quarterly report"])
        expect(yield* found("to:dave")).toEqual(["Invoice 7", "Re: Lunch plans"])
        expect(yield* found("to:bob")).toEqual(["Lunch plans", "Quarterly report"])
        expect(yield* found("subject:lunch")).toEqual(["Re: Lunch plans", "Lunch plans"])
        expect(yield* found('subject:"lunch plans"')).toEqual(["Re: Lunch plans", "Lunch plans"])
        expect(yield* found("door")).toEqual(["Re: Lunch plans", "Lunch plans"])
        expect(yield* found('"blue door cafe"')).toEqual(["Lunch plans"])
        expect(yield* found('"door blue"')).toEqual([])
        expect(yield* found("blue cafe")).toEqual(["Lunch plans"])
        expect(yield* found("has:attachment")).toEqual(["Invoice 7", "Quarterly report"])
        expect(yield* found("-has:attachment from:alice")).toEqual(["Re: Lunch plans"])
        expect(yield* found("from:alice -subject:lunch")).toEqual(["Quarterly report"])
        expect(yield* found("!from:bulk -to:dave")).toEqual(["Lunch plans", "Quarterly report"])
        expect(yield* found("nothing-matches-this")).toEqual([])
        // LIKE's wildcards are taken literally
        expect(yield* found("blue_door")).toEqual([])
        expect(yield* found("blue%door")).toEqual([])
        expect(yield* found("from:a_ice")).toEqual([])
        // dates
        expect((yield* search(inbox, "after:2000-01-01")).messages_count).toBe(16)
        expect((yield* search(inbox, "before:2000-01-01")).messages_count).toBe(0)
        expect((yield* search(inbox, "-before:2000-01-01 subject:invoice")).messages_count).toBe(1)

        // read and unread
        expect((yield* search(inbox, "is:unread")).messages_count).toBe(16)
        expect(yield* found("is:read")).toEqual([])
        const lunch = bySubject(yield* search(inbox, "subject:lunch"), "Lunch plans")
        yield* message(inbox, lunch.ID)
        expect(yield* found("is:read")).toEqual(["Lunch plans"])
        const unread = yield* search(inbox, "is:unread")
        expect(unread.messages_count).toBe(15)
        expect(subjects(unread)).not.toContain("Lunch plans")
        expect(yield* found("-is:read subject:lunch")).toEqual(["Re: Lunch plans"])

        // paging a search: messages_count is all the matches, count the page's length
        const all = yield* search(inbox, "from:bulk")
        expect(all).toMatchObject({ total: 16, unread: 15, messages_count: 12, count: 12, start: 0 })
        expect(subjects(all)).toEqual(Array.from({ length: 12 }, (_, n) => `bulk ${11 - n}`))
        const first = yield* search(inbox, "from:bulk", "&start=0&limit=5")
        expect(first).toMatchObject({ total: 16, messages_count: 12, count: 5, start: 0 })
        expect(subjects(first)).toEqual(subjects(all).slice(0, 5))
        const second = yield* search(inbox, "from:bulk", "&start=5&limit=5")
        expect(second).toMatchObject({ messages_count: 12, count: 5, start: 5 })
        expect(subjects(second)).toEqual(subjects(all).slice(5, 10))
        const last = yield* search(inbox, "from:bulk", "&start=10&limit=5")
        expect(last).toMatchObject({ messages_count: 12, count: 2, start: 10 })
        expect(subjects(last)).toEqual(subjects(all).slice(10))
        const beyond = yield* search(inbox, "from:bulk", "&start=20&limit=5")
        expect(beyond).toMatchObject({ messages_count: 12, count: 0, start: 20, messages: [] })

        // paging the list
        const everything = yield* list(inbox)
        expect(everything).toMatchObject({ total: 16, messages_count: 16, count: 16, start: 0 })
        const page = yield* list(inbox, "?start=3&limit=4")
        expect(page).toMatchObject({ total: 16, unread: 15, messages_count: 16, count: 4, start: 3 })
        expect(page.messages.map((m) => m.ID)).toEqual(everything.messages.slice(3, 7).map((m) => m.ID))
        const tail = yield* list(inbox, "?start=14&limit=50")
        expect(tail).toMatchObject({ messages_count: 16, count: 2, start: 14 })
      }),
    60_000
  )
})

describe("the inbox's search: Mailpit's other terms", () => {
  // docs: Mailpit's search-filters (has:inline, is:tagged, larger:, smaller:), /tmp/i16/mailpit-api.md §5
  it.live(
    "has:inline, is:tagged, larger: and smaller: select as Mailpit's do",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        yield* sendRaw(
          inbox,
          'From: a@example.com\r\nSubject: with inline\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="R"\r\n\r\n' +
            '--R\r\nContent-Type: text/html\r\n\r\n<img src="cid:i@example.com">\r\n' +
            "--R\r\nContent-Type: image/png\r\nContent-ID: <i@example.com>\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            png.toString("base64") +
            "\r\n--R--\r\n"
        )
        yield* sendRaw(
          inbox,
          plain({
            from: "a@example.com",
            to: "b@example.net",
            subject: "tagged",
            body: "t",
            extra: "X-Tags: urgent\r\n"
          })
        )
        yield* sendRaw(
          inbox,
          plain({ from: "a@example.com", to: "b@example.net", subject: "big", body: "x".repeat(20_000) })
        )
        yield* listed(inbox, 3)
        const found = (query: string) => Effect.map(search(inbox, query), subjects)
        expect(yield* found("tag:urgent")).toEqual(["tagged"])
        expect(yield* found("has:inline")).toEqual(["with inline"])
        expect(yield* found("is:tagged")).toEqual(["tagged"])
        expect(yield* found("-is:tagged")).toEqual(["big", "with inline"])
        expect(yield* found("larger:10k")).toEqual(["big"])
        expect(yield* found("smaller:10k")).toEqual(["tagged", "with inline"])
      }),
    60_000
  )
})

// --- 4. read status, deletion, info, send, retention ---------------------------------------------

describe("the inbox's changes through the API", () => {
  it.live(
    "PUT /api/v1/messages marks some or all read; DELETE removes some, a search's, all; /info counts",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        for (let n = 0; n < 6; n++) {
          yield* sendRaw(
            inbox,
            plain({
              from: "a@example.com",
              to: "b@example.net",
              subject: n < 2 ? `doomed ${n}` : `kept ${n}`,
              body: `n ${n}`
            })
          )
        }
        const page = yield* listed(inbox, 6)
        const id = (subject: string) => bySubject(page, subject).ID
        expect(yield* info(inbox)).toMatchObject({ Messages: 6, Unread: 6 })

        const put = (json: unknown) => request(inbox.web, "/api/v1/messages", { method: "PUT", json })
        const marked = yield* put({ IDs: [id("kept 2"), id("kept 3")], Read: true })
        expect([marked.status, marked.text]).toEqual([200, "ok"])
        expect(yield* info(inbox)).toMatchObject({ Messages: 6, Unread: 4 })
        const reads = Object.fromEntries((yield* list(inbox)).messages.map((m) => [m.Subject, m.Read]))
        expect(reads).toEqual({
          "doomed 0": false,
          "doomed 1": false,
          "kept 2": true,
          "kept 3": true,
          "kept 4": false,
          "kept 5": false
        })
        // keys in any case, as Mailpit's decoder takes them; unknown IDs are ignored
        expect((yield* put({ ids: [id("kept 2"), "no-such-id"], read: false })).status).toBe(200)
        expect((yield* info(inbox)).Unread).toBe(5)
        // no IDs: all of them
        expect((yield* put({ Read: true })).status).toBe(200)
        expect(yield* info(inbox)).toMatchObject({ Messages: 6, Unread: 0 })
        expect((yield* list(inbox)).unread).toBe(0)
        expect((yield* put({ Read: false })).status).toBe(200)
        expect((yield* info(inbox)).Unread).toBe(6)
        // a search's matches
        expect((yield* put({ Search: "subject:doomed", Read: true })).status).toBe(200)
        expect(subjects(yield* search(inbox, "is:read"))).toEqual(["doomed 1", "doomed 0"])
        expectError(yield* put({ IDs: [id("kept 2")], Search: "subject:doomed", Read: true }), 400)
        expect((yield* put({ Read: false })).status).toBe(200)
        expect((yield* info(inbox)).Unread).toBe(6)

        // delete by ID
        const removed = yield* request(inbox.web, "/api/v1/messages", {
          method: "DELETE",
          json: { IDs: [id("kept 5")] }
        })
        expect([removed.status, removed.text]).toEqual([200, "ok"])
        expect(subjects(yield* list(inbox))).toEqual(["kept 4", "kept 3", "kept 2", "doomed 1", "doomed 0"])
        expect((yield* request(inbox.web, `/api/v1/message/${id("kept 5")}`)).status).toBe(404)
        // delete a search's matches
        const bySearch = yield* request(inbox.web, `/api/v1/search?query=${encodeURIComponent("subject:doomed")}`, {
          method: "DELETE"
        })
        expect([bySearch.status, bySearch.text]).toEqual([200, "ok"])
        expect(subjects(yield* list(inbox))).toEqual(["kept 4", "kept 3", "kept 2"])
        expect(yield* info(inbox)).toMatchObject({ Messages: 3, Unread: 3 })
        // no body: all
        const cleared = yield* request(inbox.web, "/api/v1/messages", { method: "DELETE" })
        expect([cleared.status, cleared.text]).toEqual([200, "ok"])
        expect(yield* list(inbox)).toMatchObject({ total: 0, unread: 0, messages_count: 0, count: 0, messages: [] })
        expect(yield* info(inbox)).toMatchObject({ Messages: 0, Unread: 0 })
        const noLatest = yield* request(inbox.web, "/api/v1/message/latest")
        expectError(noLatest, 404)
      }),
    60_000
  )

  it.live(
    "POST /api/v1/send stores a message with an attachment and tags; it reads back",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const sent = yield* request(inbox.web, "/api/v1/send", {
          method: "POST",
          json: {
            From: { Email: "api@example.com", Name: "API Sender" },
            To: [{ Email: "to@example.com", Name: "To Person" }],
            Cc: [{ Email: "cc@example.com" }],
            Subject: "Sent through the API – ✓",
            Text: "The text body.",
            HTML: "<p>The HTML body.</p>",
            Attachments: [{ Content: pdf.toString("base64"), Filename: "api.pdf", ContentType: "application/pdf" }],
            Headers: { "X-Custom": "custom value" },
            Tags: ["alpha", "beta"]
          }
        })
        expect(sent.status, sent.text).toBe(200)
        expect(sent.json).toEqual({ ID: expect.any(String) })
        const id = sent.json.ID as string
        const page = yield* listed(inbox, 1)
        expect(page.tags).toEqual(["alpha", "beta"])
        expect(page.messages[0]).toMatchObject({
          ID: id,
          From: { Name: "API Sender", Address: "api@example.com" },
          To: [{ Name: "To Person", Address: "to@example.com" }],
          Subject: "Sent through the API – ✓",
          Tags: ["alpha", "beta"],
          Attachments: 1,
          Snippet: "The text body."
        })
        const m = yield* message(inbox, id)
        expect(m).toMatchObject({ ID: id, Subject: "Sent through the API – ✓", Tags: ["alpha", "beta"] })
        expect(m.Text.trim()).toBe("The text body.")
        expect(m.HTML.trim()).toBe("<p>The HTML body.</p>")
        expect(m.Attachments).toEqual([
          {
            PartID: expect.any(String),
            FileName: "api.pdf",
            ContentType: "application/pdf",
            ContentID: "",
            Size: pdf.length
          }
        ])
        const download = yield* part(inbox, id, m.Attachments[0]!.PartID)
        expect(download.body.equals(pdf)).toBe(true)
        const h = yield* headers(inbox, id)
        expect(h["X-Custom"]).toEqual(["custom value"])
        expect(h["X-Tags"]).toEqual(["alpha, beta"])
        expect((yield* raw(inbox, id)).length).toBe(m.Size)
        expect((yield* info(inbox)).Tags).toEqual({ alpha: 1, beta: 1 })
        expect(subjects(yield* search(inbox, "tag:alpha"))).toEqual(["Sent through the API – ✓"])
        expect(subjects(yield* search(inbox, "tag:gamma"))).toEqual([])
      }),
    60_000
  )

  it.live(
    "POST /api/v1/send lets no line break in Tags, ContentType or ContentID make a header of its own",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const sent = yield* request(inbox.web, "/api/v1/send", {
          method: "POST",
          json: {
            From: { Email: "a@example.com" },
            To: [{ Email: "b@example.com" }],
            Subject: "injection",
            Text: "t",
            Tags: ["ok\r\nX-Injected: via-tag"],
            Attachments: [
              { Content: "QUJD", Filename: "a.txt", ContentType: "text/plain\r\nX-Part-Injected: yes" },
              { Content: "QUJD", Filename: "b.txt", ContentType: "text/plain", ContentID: "c\r\nX-Cid-Injected: yes" }
            ]
          }
        })
        // refused, or stored without the extra fields
        expect([200, 400]).toContain(sent.status)
        if (sent.status === 400) return expectError(sent, 400)
        const source = (yield* raw(inbox, sent.json.ID)).toString("utf8")
        expect(source).not.toMatch(/^X-(Part-|Cid-)?Injected:/m)
        expect(Object.keys(yield* headers(inbox, sent.json.ID))).not.toContain("X-Injected")
      }),
    60_000
  )

  it.live(
    "keeps the newest 3 of 5 with --inbox-max 3",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main, ["--inbox-max", "3"])
        const live = yield* events(inbox.web)
        for (let n = 0; n < 5; n++) {
          yield* sendRaw(
            inbox,
            plain({ from: "r@example.com", to: "k@example.net", subject: `retained ${n}`, body: `${n}` })
          )
        }
        const page = yield* list(inbox)
        expect(page).toMatchObject({ total: 3, unread: 3, messages_count: 3, count: 3 })
        expect(subjects(page)).toEqual(["retained 4", "retained 3", "retained 2"])
        expect(yield* info(inbox)).toMatchObject({ Messages: 3, Unread: 3 })
        expect(yield* Effect.map(search(inbox, "retained"), subjects)).toEqual([
          "retained 4",
          "retained 3",
          "retained 2"
        ])
        // the oldest went; live views heard of it
        expect(yield* live.next((f) => f.Type === "prune")).toMatchObject({ Type: "prune" })
        expect(
          live
            .frames()
            .filter((f) => f.Type === "new")
            .map((f) => f.Data.Subject)
        ).toEqual(Array.from({ length: 5 }, (_, n) => `retained ${n}`))
      }),
    60_000
  )
})

// --- 5. bad input --------------------------------------------------------------------------------

describe("the inbox and bad input", () => {
  it.live(
    "keeps malformed MIME, 1,000 parts, 10,000 recipients, an unknown charset and no MIME at all; still answers",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        // each is stored with its exact source, opens, and the server still answers
        const keep = (subject: string, content: string) =>
          Effect.gen(function* () {
            const before = (yield* list(inbox)).total
            yield* sendRaw(inbox, content)
            yield* healthy(inbox)
            const page = yield* listed(inbox, before + 1)
            const summary = page.messages[0]!
            expect(summary.Subject).toBe(subject)
            expect((yield* raw(inbox, summary.ID)).equals(Buffer.from(content, "utf8"))).toBe(true)
            const opened = yield* message(inbox, summary.ID)
            expect((yield* request(inbox.web, `/api/v1/message/${summary.ID}/headers`)).status).toBe(200)
            yield* healthy(inbox)
            return opened
          })

        const unterminated = yield* keep(
          "unterminated multipart",
          "From: a@example.com\r\nTo: b@example.net\r\nSubject: unterminated multipart\r\nMIME-Version: 1.0\r\n" +
            'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n' +
            "--XYZ\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n" +
            '--XYZ\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="cut.bin"\r\n' +
            "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n"
        )
        expect(unterminated.Text).toContain("first part")

        const broken = yield* keep(
          "broken base64",
          "From: a@example.com\r\nSubject: broken base64\r\nMIME-Version: 1.0\r\n" +
            'Content-Type: multipart/mixed; boundary="B"\r\n\r\n' +
            "--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n" +
            '--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="broken.pdf"\r\n' +
            "Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64###\r\n====\r\nQUJD=QUJD\r\n-\r\n--B--\r\n"
        )
        for (const p of [...broken.Attachments, ...broken.Inline]) {
          expect((yield* part(inbox, broken.ID, p.PartID)).status).toBe(200)
        }

        const parts = Array.from(
          { length: 1000 },
          (_, i) =>
            `--P\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="p${i}.txt"\r\n\r\npart ${i}\r\n`
        )
        const many = yield* keep(
          "a thousand parts",
          'From: a@example.com\r\nSubject: a thousand parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="P"\r\n\r\n' +
            parts.join("") +
            "--P--\r\n"
        )
        expect(many.Attachments).toHaveLength(1000)
        const p999 = many.Attachments.find((p) => p.FileName === "p999.txt")!
        expect((yield* part(inbox, many.ID, p999.PartID)).text).toBe("part 999")

        const addresses = Array.from({ length: 10_000 }, (_, i) => `user${i}@example.net`)
        const folded = Array.from({ length: 1000 }, (_, i) => addresses.slice(i * 10, i * 10 + 10).join(", ")).join(
          ",\r\n "
        )
        const crowd = yield* keep(
          "ten thousand recipients",
          `From: a@example.com\r\nTo: ${folded}\r\nSubject: ten thousand recipients\r\n\r\nHello all.\r\n`
        )
        expect(crowd.To).toHaveLength(10_000)
        expect(crowd.To[9999]).toEqual({ Name: "", Address: "user9999@example.net" })
        expect(subjects(yield* search(inbox, "to:user9876@example.net"))).toEqual(["ten thousand recipients"])

        const foo = yield* keep(
          "unknown charset",
          "From: a@example.com\r\nSubject: unknown charset\r\nMIME-Version: 1.0\r\n" +
            'Content-Type: text/plain; charset="x-foo"\r\nContent-Transfer-Encoding: 8bit\r\n\r\nplain words and caf\xe9\r\n'
        )
        expect(foo.Text).toContain("plain words and caf")

        const notMime = yield* keep("", "this is not a mail message at all\r\n\x00\x01 binary\r\njust lines\r\n")
        expect(notMime.Subject).toBe("")

        // a header line too long for any parser's taste, and a message that is only a header
        yield* keep("", `X-Long: ${"x".repeat(200_000)}\r\n`)
        yield* keep("only a header", "Subject: only a header\r\n")
        expect((yield* list(inbox)).total).toBe(8)
      }),
    60_000
  )

  it.live(
    "keeps the header fields of a message nested 5,000 multiparts deep",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const depth = 5000
        const open = Array.from(
          { length: depth },
          (_, i) => `--b${i}\r\nContent-Type: multipart/mixed; boundary="b${i + 1}"\r\n\r\n`
        )
        const close = Array.from({ length: depth }, (_, i) => `--b${depth - 1 - i}--\r\n`)
        const content =
          'From: Deep <deep@example.com>\r\nTo: b@example.net\r\nSubject: deep nesting\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n' +
          open.join("") +
          `--b${depth}\r\nContent-Type: text/plain\r\n\r\ninnermost\r\n--b${depth}--\r\n` +
          close.join("")
        yield* sendRaw(inbox, content)
        yield* healthy(inbox)
        const summary = (yield* listed(inbox, 1)).messages[0]!
        expect((yield* raw(inbox, summary.ID)).toString("utf8")).toBe(content)
        // the header section is sound whatever the body: its fields are shown
        expect(summary).toMatchObject({ Subject: "deep nesting", From: { Name: "Deep", Address: "deep@example.com" } })
        expect((yield* headers(inbox, summary.ID))["Subject"]).toEqual(["deep nesting"])
        expect(subjects(yield* search(inbox, "subject:deep"))).toEqual(["deep nesting"])
      }),
    60_000
  )

  it.live(
    'answers bad API requests with a 4xx and {"Error"}, never a crash',
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const call = (path: string, init: Parameters<typeof request>[2] = {}) => request(inbox.web, path, init)
        expectError(yield* call("/api/v1/message/latest"), 404)
        yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "the one", body: "x" }))
        const id = (yield* listed(inbox, 1)).messages[0]!.ID

        const cases: ReadonlyArray<readonly [string, Parameters<typeof request>[2], number]> = [
          ["/api/v1/message/NoSuchId0000000000000", {}, 404],
          ["/api/v1/message/NoSuchId0000000000000/headers", {}, 404],
          ["/api/v1/message/NoSuchId0000000000000/raw", {}, 404],
          ["/api/v1/message/NoSuchId0000000000000/part/1", {}, 404],
          [`/api/v1/message/${id}/part/99`, {}, 404],
          [`/api/v1/message/${id}/part/..%2F..`, {}, 404],
          ["/api/v1/message/%27%3B%20DROP%20TABLE%20inbox_messages%3B--", {}, 404],
          ["/api/v1/messages?start=-1", {}, 400],
          ["/api/v1/messages?limit=abc", {}, 400],
          ["/api/v1/messages?start=1e3", {}, 400],
          ["/api/v1/search?query=a&start=-1", {}, 400],
          ["/api/v1/search?query=a&limit=abc", {}, 400],
          ["/api/v1/search", {}, 400],
          ["/api/v1/search?query=%20%20", {}, 400],
          ["/api/v1/search", { method: "DELETE" }, 400],
          ["/api/v1/messages", { method: "PUT", body: "this is not JSON" }, 400],
          ["/api/v1/messages", { method: "PUT", body: "[1,2,3]" }, 400],
          ["/api/v1/messages", { method: "PUT", json: { IDs: "not a list", Read: true } }, 400],
          ["/api/v1/messages", { method: "DELETE", json: { IDs: [1, 2] } }, 400],
          ["/api/v1/nothing", {}, 404],
          ["/api/v1/nothing", { method: "POST", body: "{}" }, 404],
          ["/api/v1/send", { method: "POST", json: { To: [{ Email: "to@example.com" }], Subject: "no from" } }, 400],
          ["/api/v1/send", { method: "POST", body: "not JSON" }, 400],
          [
            "/api/v1/send",
            { method: "POST", json: { From: { Email: "not an address" }, To: [{ Email: "t@example.com" }] } },
            400
          ],
          [
            "/api/v1/send",
            {
              method: "POST",
              json: {
                From: { Email: "f@example.com" },
                To: [{ Email: "t@example.com" }],
                Attachments: [{ Content: "***", Filename: "x.bin" }]
              }
            },
            400
          ],
          [
            "/api/v1/send",
            {
              method: "POST",
              json: { From: { Email: "f@example.com" }, To: [{ Email: "t@example.com" }], Headers: { Subject: "x" } }
            },
            400
          ]
        ]
        for (const [path, init, status] of cases) {
          const answer = yield* call(path, init)
          expect([init?.method ?? "GET", path, answer.status]).toEqual([init?.method ?? "GET", path, status])
          expectError(answer, status)
          yield* healthy(inbox)
        }
        // nothing was changed by any of them
        expect(yield* list(inbox)).toMatchObject({ total: 1, unread: 1 })
        expect((yield* message(inbox, id)).Subject).toBe("the one")
      }),
    60_000
  )

  it.live(
    'answers an ID that is not valid percent-encoding with 404 and {"Error"}',
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        for (const path of ["/api/v1/message/%E0%A4%A", "/api/v1/message/%ZZ/raw", "/api/v1/nothing/%ZZ"]) {
          const answer = yield* request(inbox.web, path)
          expect([path, answer.status, answer.headers.get("content-type"), answer.text]).toEqual([
            path,
            404,
            expect.stringMatching(/^application\/json/),
            expect.stringContaining('"Error"')
          ])
          yield* healthy(inbox)
        }
      }),
    60_000
  )
})

// --- 6. the websocket ----------------------------------------------------------------------------

describe("the inbox's websocket", () => {
  it.live(
    "sends new for a stored message, update when it is opened, delete and truncate",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const live = yield* events(inbox.web)
        expect(live.frames()[0]).toMatchObject({ Type: "stats", Data: { Total: 0, Unread: 0 } })

        yield* sendRaw(
          inbox,
          withAttachment(
            { from: "Web Socket <ws@example.com>", to: "live@example.net", subject: "live one", body: "Hello, live." },
            "a.bin"
          )
        )
        const created = yield* live.next((f) => f.Type === "new")
        expect(created, JSON.stringify(live.frames())).toBeDefined()
        const summary = bySubject(yield* list(inbox), "live one")
        expect(created!.Data).toEqual(summary)
        expect(created!.Data).toMatchObject({
          From: { Name: "Web Socket", Address: "ws@example.com" },
          To: [{ Name: "", Address: "live@example.net" }],
          Subject: "live one",
          Read: false,
          Attachments: 1,
          Snippet: "Hello, live."
        })

        let seen = live.frames().length
        yield* message(inbox, summary.ID)
        const updated = yield* live.next((f) => f.Type === "update", seen)
        expect(updated).toEqual({ Type: "update", Data: { ID: summary.ID, Read: true } })

        seen = live.frames().length
        const gone = yield* request(inbox.web, "/api/v1/messages", { method: "DELETE", json: { IDs: [summary.ID] } })
        expect(gone.status).toBe(200)
        const deleted = yield* live.next((f) => f.Type === "delete", seen)
        expect(deleted).toEqual({ Type: "delete", Data: { ID: summary.ID } })

        seen = live.frames().length
        yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "second", body: "2" }))
        yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "third", body: "3" }))
        const news = yield* poll(
          Effect.sync(() =>
            live
              .frames()
              .slice(seen)
              .filter((f) => f.Type === "new")
          ),
          (frames) => frames.length >= 2
        )
        expect(news.map((f) => f.Data.Subject)).toEqual(["second", "third"])

        seen = live.frames().length
        expect((yield* request(inbox.web, "/api/v1/messages", { method: "DELETE" })).status).toBe(200)
        const truncated = yield* live.next((f) => f.Type === "truncate", seen)
        expect(truncated).toMatchObject({ Type: "truncate" })
        expect(
          live
            .frames()
            .slice(seen)
            .filter((f) => f.Type === "delete")
        ).toEqual([])
        const stats = yield* live.next((f) => f.Type === "stats" && f.Data.Total === 0, seen)
        expect(stats).toMatchObject({ Type: "stats", Data: { Total: 0, Unread: 0 } })
        yield* healthy(inbox)
      }),
    60_000
  )

  it.live(
    "outlives clients that come and go: 30 sockets opened and dropped, the one left still hears",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const staying = yield* events(inbox.web)
        for (let round = 0; round < 3; round++) {
          yield* Effect.scoped(Effect.forEach(Array.from({ length: 10 }), () => events(inbox.web), { concurrency: 10 }))
          yield* sendRaw(
            inbox,
            plain({ from: "a@example.com", to: "b@example.net", subject: `round ${round}`, body: "r" })
          )
        }
        const news = yield* poll(
          Effect.sync(() => staying.frames().filter((f) => f.Type === "new")),
          (frames) => frames.length >= 3
        )
        expect(news.map((f) => f.Data.Subject)).toEqual(["round 0", "round 1", "round 2"])
        yield* healthy(inbox)
      }),
    60_000
  )

  it.live(
    "a plain HTTP GET of /api/events is refused with JSON, and the server goes on",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const answer = yield* request(inbox.web, "/api/events")
        expect(answer.status).toBeGreaterThanOrEqual(400)
        expect(answer.status).toBeLessThan(500)
        yield* healthy(inbox)
      }),
    60_000
  )
})

// --- 7. --inbox FILE -----------------------------------------------------------------------------

describe("the inbox in a file", () => {
  it.live(
    "keeps messages, read status and parts across a restart (SIGTERM, then SIGKILL) on the same --inbox file",
    () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "inbox.db")
        const first = yield* inboxProcess(main, ["--inbox", file])
        const one = withAttachment(
          { from: "p@example.com", to: "q@example.net", subject: "persisted one", body: "Kept." },
          "kept.bin"
        )
        const two = plain({ from: "p@example.com", to: "q@example.net", subject: "persisted two", body: "Also kept." })
        yield* sendRaw(first, one)
        yield* sendRaw(first, two)
        const before = yield* listed(first, 2)
        const opened = yield* message(first, bySubject(before, "persisted one").ID)
        const beforeRead = yield* list(first)
        yield* first.kill("SIGTERM")

        const second = yield* inboxProcess(main, ["--inbox", file])
        const after = yield* list(second)
        expect(after).toEqual(beforeRead)
        expect(after.unread).toBe(1)
        const again = yield* message(second, opened.ID)
        expect(again).toEqual(opened)
        expect(
          (yield* part(second, opened.ID, opened.Attachments[0]!.PartID)).body.equals(Buffer.from([0, 1, 2, 3, 4]))
        ).toBe(true)
        expect((yield* raw(second, opened.ID)).toString("latin1")).toBe(one)
        expect((yield* raw(second, bySubject(after, "persisted two").ID)).toString("latin1")).toBe(two)

        // a third message, then kill -9: all three there after the next start
        yield* sendRaw(
          second,
          plain({ from: "p@example.com", to: "q@example.net", subject: "persisted three", body: "3" })
        )
        yield* listed(second, 3)
        yield* second.kill("SIGKILL")
        const third = yield* inboxProcess(main, ["--inbox", file])
        const last = yield* list(third)
        expect(subjects(last)).toEqual(["persisted three", "persisted two", "persisted one"])
        expect(last.messages.map((m) => m.Read)).toEqual([false, false, true])
        expect(subjects(yield* search(third, "also kept"))).toEqual(["persisted two"])
      }),
    60_000
  )
})
