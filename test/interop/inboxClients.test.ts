// `--class Inbox` as its users meet it (issue 16): the built command in a child process, mail
// sent to it by real clients (Python's smtplib and email package, nodemailer, swaks) and read
// back through Mailpit's HTTP API v1 on --web. Every test starts its own server.
//
// What the clients send: smtplib's sendmail with bytes sends them as they are (dot-stuffed), so
// the stored source must equal the bytes the email package made; nodemailer's raw messages are
// sent as they are too; swaks builds its own message (and shows every line it sends).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { SendMailOptions } from "nodemailer"
import MailComposer from "nodemailer/lib/mail-composer"
import { builtCommand } from "../utils/command.js"
import {
  createdWithin,
  headers,
  healthy,
  list,
  listed,
  message,
  nodemailerSend,
  part,
  pdf,
  png,
  pseudoRandom,
  raw,
  search,
  smtplib,
  subjects,
  swaks,
  swaksData
} from "../utils/inboxMail.js"
import { inboxProcess, request, tempDir } from "../utils/inboxProcess.js"
import { skipWithout } from "../utils/tools.js"

const main = builtCommand()

// --- real clients -----------------------------------------------------------------------------

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
