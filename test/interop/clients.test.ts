// Real clients deliver to a real server; the stored bytes are compared exactly.
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import nodemailer from "nodemailer"
import * as Server from "../utils/server.js"
import { python, run, tempFile } from "../utils/process.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

layer(Server.layer(), { excludeTestServices: true })("real clients", (it) => {
  describe("Python smtplib", () => {
    it.effect("delivers an 8-bit body with BODY=8BITMIME, dot lines unstuffed, bytes exact", () =>
      Effect.gen(function* () {
        const result = yield* Server.smtplib(`
body = b"Subject: 8bit\\r\\n\\r\\ncaf\\xc3\\xa9 \\x80\\xff\\r\\n.leading dot\\r\\n..two dots\\r\\n.\\r\\nend"
print(s.sendmail("a@example.com", ["eight@example.com"], body, mail_options=["BODY=8BITMIME"]))
s.quit()`)
        expect(result.stderr).toBe("")
        const [delivery] = yield* Server.deliveriesTo("eight@example.com")
        // smtplib dot-stuffs, and ends the message with CRLF
        expect(Server.text(delivery!.data)).toBe(
          "Subject: 8bit\r\n\r\ncaf\xc3\xa9 \x80\xff\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
        )
        // smtplib declares the size of the message it was given, before its own stuffing
        expect(delivery!.envelope.mailParameters).toEqual([
          { keyword: "SIZE", value: "59" },
          { keyword: "BODY", value: "8BITMIME" }
        ])
      })
    )

    it.effect("delivers a 10 MB message exactly", () =>
      Effect.gen(function* () {
        const port = yield* Server.port
        const result = yield* Effect.promise(() =>
          python(`
import smtplib, hashlib
line = b"".join(bytes([33 + (i % 90)]) for i in range(76)) + b"\\r\\n"
body = b"Subject: big\\r\\n\\r\\n" + line * (10 * 1024 * 1024 // len(line))
s = smtplib.SMTP("127.0.0.1", ${port})
s.sendmail("a@example.com", ["big@example.com"], body)
s.quit()
print(len(body), hashlib.sha256(body).hexdigest())`)
        )
        expect(result.stderr).toBe("")
        const [length, hash] = result.stdout.trim().split(" ")
        const [delivery] = yield* Server.deliveriesTo("big@example.com")
        expect(delivery!.data.length).toBe(Number(length))
        expect(sha256(delivery!.data)).toBe(hash)
      })
    )

    it.effect("keeps the null sender and the recipients in order", () =>
      Effect.gen(function* () {
        yield* Server.smtplib(`
s.sendmail("", ["r1@example.com", "r2@example.com", "r3@example.com"], b"Subject: bounce\\r\\n\\r\\nx\\r\\n")
s.quit()`)
        const [delivery] = yield* Server.deliveriesTo("r1@example.com")
        expect(delivery!.mailFrom).toBe("")
        expect(delivery!.rcptTos).toEqual(["r1@example.com", "r2@example.com", "r3@example.com"])
      })
    )

    it.effect("sees the EHLO keywords, and a HELO client gets no enhanced codes", () =>
      Effect.gen(function* () {
        const port = yield* Server.port
        const result = yield* Effect.promise(() =>
          python(`
import smtplib
s = smtplib.SMTP("127.0.0.1", ${port})
s.ehlo()
print(sorted(s.esmtp_features))
s.quit()
s = smtplib.SMTP("127.0.0.1", ${port})
s.helo("old.example")
print(s.mail("a@example.com"))
print(s.rcpt("helo@example.com"))
s.quit()`)
        )
        const [features, mail, rcpt] = result.stdout.trim().split("\n")
        expect(features).toBe("['8bitmime', 'enhancedstatuscodes', 'pipelining', 'size']")
        expect(mail).toBe("(250, b'Ok')")
        expect(rcpt).toBe("(250, b'Ok')")
      })
    )

    it.effect("refuses SMTPUTF8 addresses when SMTPUTF8 is not offered (553)", () =>
      Effect.gen(function* () {
        const result = yield* Server.smtplib(`
s.command_encoding = "utf-8"  # send the UTF-8 address raw, as a careless client would
s.ehlo()
print(s.mail("a@example.com"))
print(s.rcpt("j\\u00f6rg@example.com"))
print(s.mail("j\\u00f6rg@example.com"))
s.quit()`)
        expect(result.stderr).toBe("")
        expect(result.stdout.trim().split("\n")).toEqual([
          "(250, b'2.1.0 Ok')",
          "(553, b'5.6.7 Non-ASCII address requires SMTPUTF8')",
          "(503, b'5.5.1 Sender already specified')"
        ])
      })
    )
  })

  describe("swaks", () => {
    it.effect("delivers a file's content with pipelining, to several recipients", () =>
      Effect.gen(function* () {
        const port = yield* Server.port
        const file = tempFile("Subject: swaks\r\nX-Test: 1\r\n\r\nfirst line\r\n.dot line\r\nlast line\r\n")
        const result = yield* Effect.promise(() =>
          run("swaks", [
            "--server",
            "127.0.0.1",
            "--port",
            String(port),
            "--from",
            "s@example.com",
            "--to",
            "swaks1@example.com,swaks2@example.com",
            "--data",
            `@${file.path}`,
            "--pipeline",
            "--silent",
            "2"
          ])
        ).pipe(Effect.ensuring(Effect.sync(file.remove)))
        expect(result.code, result.stdout + result.stderr).toBe(0)
        const [delivery] = yield* Server.deliveriesTo("swaks1@example.com")
        expect(delivery!.rcptTos).toEqual(["swaks1@example.com", "swaks2@example.com"])
        // swaks ends the data with CRLF . CRLF after the file's own final CRLF: one empty line more
        expect(Server.text(delivery!.data)).toBe(
          "Subject: swaks\r\nX-Test: 1\r\n\r\nfirst line\r\n.dot line\r\nlast line\r\n\r\n"
        )
      })
    )
  })

  describe("curl", () => {
    // curl -T uploads a file as the message; the recipient names the test's delivery
    const curl = (content: string, recipient: string) =>
      Effect.gen(function* () {
        const port = yield* Server.port
        const file = tempFile(content)
        const args = ["-sS", `smtp://127.0.0.1:${port}`, "--mail-from", "c@example.com", "--mail-rcpt", recipient]
        const result = yield* Effect.promise(() => run("curl", [...args, "-T", file.path])).pipe(
          Effect.ensuring(Effect.sync(file.remove))
        )
        expect(result.code, result.stderr).toBe(0)
        const [delivery] = yield* Server.deliveriesTo(recipient)
        return Server.text(delivery!.data)
      })

    it.effect("uploads a CRLF file exactly", () =>
      Effect.gen(function* () {
        const content = "Subject: curl\r\n\r\nline one\r\n.dot\r\nline three\r\n"
        expect(yield* curl(content, "curl1@example.com")).toBe(content)
      })
    )

    it.effect("a file with bare LF line endings is stored with CRLF (the server normalizes)", () =>
      Effect.gen(function* () {
        const stored = yield* curl("Subject: lf\n\nline one\nline two\n", "curl2@example.com")
        // curl sends the LF file as it is and, since it does not end in CRLF, adds one before the
        // final dot: the bare LFs become CRLF here, and the added CRLF is one empty line more
        expect(stored).toBe("Subject: lf\r\n\r\nline one\r\nline two\r\n\r\n")
      })
    )
  })

  describe("nodemailer", () => {
    it.effect("sends a raw message whose bytes arrive unchanged", () =>
      Effect.gen(function* () {
        const port = yield* Server.port
        const raw =
          "From: n@example.com\r\nTo: nm1@example.com\r\nSubject: raw\r\n\r\n.starts with a dot\r\nbody \u00e9\r\n"
        const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
        yield* Effect.promise(() =>
          transport.sendMail({ envelope: { from: "n@example.com", to: ["nm1@example.com"] }, raw })
        )
        const [delivery] = yield* Server.deliveriesTo("nm1@example.com")
        expect(Buffer.from(delivery!.data).toString("utf8")).toBe(raw)
      })
    )

    it.effect("sends a composed message with an attachment", () =>
      Effect.gen(function* () {
        const port = yield* Server.port
        const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
        const info = yield* Effect.promise(() =>
          transport.sendMail({
            from: "n@example.com",
            to: "nm2@example.com",
            subject: "With attachment",
            text: "See attached.",
            attachments: [{ filename: "report.txt", content: "numbers" }]
          })
        )
        expect(info.accepted).toEqual(["nm2@example.com"])
        const [delivery] = yield* Server.deliveriesTo("nm2@example.com")
        const text = Server.text(delivery!.data)
        expect(text).toContain("Subject: With attachment\r\n")
        expect(text).toContain("filename=report.txt")
        expect(text).toContain(Buffer.from("numbers").toString("base64"))
      })
    )
  })
})
