// nodemailer's SMTP transport against the real server, with exact stored bytes.
//
// What nodemailer changes: it builds its own MIME message unless given `raw`. A raw message is
// sent with every lone CR or LF made CRLF, dot-stuffed, and ended with CRLF when it does not end
// in one; nothing else is touched (no header is added). It takes the envelope from `envelope`
// (or from the From/To/Cc/Bcc headers it writes). It does not pipeline, and declares neither SIZE
// nor BODY for a raw message.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import nodemailer, { type SendMailOptions } from "nodemailer"
import { crlf, type TestServer, text, withServer } from "../utils/server.js"

const send = (server: TestServer, mail: SendMailOptions) =>
  Effect.tryPromise({
    try: () =>
      nodemailer
        .createTransport({
          host: server.host,
          port: server.port,
          secure: false,
          ignoreTLS: true,
          name: "client.example"
        })
        .sendMail(mail),
    catch: (error) => error as Error & { readonly responseCode?: number; readonly command?: string }
  })

describe("nodemailer", () => {
  it.live("sends a raw message with an envelope: bytes exact, recipients in order", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const raw = Buffer.concat([
        Buffer.from(".dot first\r\nFrom: header@example.com\r\nSubject: raw\r\n\r\n.\r\n..\r\n.x\r\n"),
        Buffer.from(Uint8Array.from({ length: 128 }, (_, i) => 0x80 + i)),
        Buffer.from("\r\nend\r\n")
      ])
      const to = ["one@example.com", "two@example.org", "three@example.net"]
      const info = yield* send(server, { envelope: { from: "envelope@example.com", to }, raw })
      expect(info.accepted).toEqual(to)
      expect(info.response).toBe("250 2.0.0 Ok: message accepted")
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.helo).toBe("client.example")
      expect(delivery!.mailFrom).toBe("envelope@example.com")
      expect(delivery!.rcptTos).toEqual(to)
      expect(Buffer.from(delivery!.data).equals(raw)).toBe(true)
      expect(delivery!.envelope.mailParameters).toEqual([])
    })
  )

  it.live("makes lone CR and LF in a raw message CRLF itself (the server refuses bare ones here)", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ bareLineEndings: "reject" })
      const raw = "Subject: bare\n\n.dot after LF\nbare\rCR\r\nno final line break"
      yield* send(server, { envelope: { from: "a@example.com", to: ["bare@example.com"] }, raw })
      const [delivery] = yield* server.deliveries
      expect(text(delivery!.data)).toBe("Subject: bare\r\n\r\n.dot after LF\r\nbare\r\nCR\r\nno final line break\r\n")
      expect(text(delivery!.data)).toBe(crlf(raw) + "\r\n")
    })
  )

  it.live("sends a composed message with text and an attachment; Bcc only in the envelope", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const info = yield* send(server, {
        from: "Sender <n@example.com>",
        to: "nm@example.com",
        bcc: "hidden@example.com",
        subject: "With attachment",
        text: "See attached.\n.and a line with a dot",
        attachments: [{ filename: "report.txt", content: "numbers: 1 2 3" }]
      })
      expect(info.accepted).toEqual(["nm@example.com", "hidden@example.com"])
      const [delivery] = yield* server.deliveries
      expect(delivery!.mailFrom).toBe("n@example.com")
      expect(delivery!.rcptTos).toEqual(["nm@example.com", "hidden@example.com"])
      const message = text(delivery!.data)
      expect(message).toContain("From: Sender <n@example.com>\r\n")
      expect(message).toContain("Subject: With attachment\r\n")
      expect(message).toContain(`Message-ID: ${info.messageId}\r\n`)
      expect(message).toMatch(/\r\nContent-Type: multipart\/mixed;\s+boundary="([^"]+)"\r\n/)
      expect(message).toContain("\r\n\r\nSee attached.\r\n.and a line with a dot\r\n")
      expect(message).toContain("Content-Disposition: attachment; filename=report.txt\r\n")
      expect(message).toContain(Buffer.from("numbers: 1 2 3").toString("base64"))
      expect(message).not.toContain("hidden@example.com")
      expect(message.endsWith("--\r\n")).toBe(true)
    })
  )

  it.live("gets 552 5.3.4 after DATA for a raw message over maxMessageSize; nothing stored", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ maxMessageSize: 1000 })
      const error = yield* Effect.flip(
        send(server, {
          envelope: { from: "a@example.com", to: ["big@example.com"] },
          raw: "Subject: big\r\n\r\n" + "x".repeat(2000) + "\r\n"
        })
      )
      expect(error.responseCode).toBe(552)
      expect(error.message).toContain("552 5.3.4 Message size exceeds fixed maximum message size")
      expect(error.command).toBe("DATA")
      expect(yield* server.deliveries).toEqual([])
    })
  )

  it.live("sends UTF-8 addresses with SMTPUTF8 when the server offers it", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ smtpUtf8: true })
      const raw = Buffer.from("Subject: Grüße\r\n\r\nΓειά σου\r\n", "utf8")
      yield* send(server, { envelope: { from: "jörg@bücher.example", to: ["δοκιμή@παράδειγμα.example"] }, raw })
      const [delivery] = yield* server.deliveries
      expect(delivery!.mailFrom).toBe("jörg@bücher.example")
      expect(delivery!.rcptTos).toEqual(["δοκιμή@παράδειγμα.example"])
      expect(delivery!.envelope.mailOptions.smtpUtf8).toBe(true)
      expect(Buffer.from(delivery!.data).equals(raw)).toBe(true)
    })
  )
})
