// curl's SMTP upload (`curl smtp://… --mail-from … --mail-rcpt … -T file`) against the real
// server, with exact stored bytes.
//
// What curl changes: nothing in the file's bytes, except dot-stuffing — and it stuffs only after
// CRLF (and at the start), not after a bare LF. It ends the data with ".\r\n" when the file ends
// in CRLF (or is empty) and with "\r\n.\r\n" otherwise, so a file ending in a bare LF or in no
// line break at all gets a CRLF added. `--crlf` turns every LF into CRLF before stuffing. It
// declares SIZE=<file size> (none for an empty file) and sends no BODY parameter.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { messageFile, runProcess } from "../utils/process.js"
import { crlf, type TestServer, text, withServer } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"

interface Upload {
  readonly from?: string
  readonly to?: ReadonlyArray<string>
  readonly options?: ReadonlyArray<string>
}

// the URL's path is the EHLO name
const curl = (server: TestServer, content: string | Uint8Array, upload: Upload = {}) =>
  Effect.gen(function* () {
    const file = yield* messageFile(content)
    const host = server.host.includes(":") ? `[${server.host}]` : server.host
    const recipients = (upload.to ?? ["rcpt@example.com"]).flatMap((to) => ["--mail-rcpt", to])
    return yield* runProcess("curl", [
      "-sS",
      `smtp://${host}:${server.port}/client.example`,
      "--mail-from",
      upload.from ?? "c@example.com",
      ...recipients,
      ...(upload.options ?? []),
      "-T",
      file
    ])
  })

// the one delivery of a successful upload
const uploaded = (server: TestServer, content: string | Uint8Array, upload: Upload = {}) =>
  Effect.gen(function* () {
    const result = yield* curl(server, content, upload)
    expect(result.exitCode, result.stderr).toBe(0)
    const deliveries = yield* server.deliveries
    expect(deliveries).toHaveLength(1)
    return deliveries[0]!
  })

describe.skipIf(skipWithout("curl"))("curl", () => {
  it.live("uploads a CRLF file exactly, dot lines included, and declares its SIZE", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = ".first\r\nSubject: curl\r\n\r\nline one\r\n.dot\r\n..two\r\n.\r\nlast\r\n"
      const delivery = yield* uploaded(server, content)
      expect(text(delivery.data)).toBe(content)
      expect(delivery.helo).toBe("client.example")
      expect(delivery.mailFrom).toBe("c@example.com")
      expect(delivery.envelope.mailParameters).toEqual([{ keyword: "SIZE", value: String(content.length) }])
    })
  )

  it.live("uploads 8-bit bytes unchanged, without a BODY parameter", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = Buffer.concat([
        Buffer.from("Subject: 8bit\r\n\r\n"),
        Buffer.from(Uint8Array.from({ length: 128 }, (_, i) => 0x80 + i)),
        Buffer.from("\r\n")
      ])
      const delivery = yield* uploaded(server, content)
      expect(Buffer.from(delivery.data).equals(content)).toBe(true)
      expect(delivery.envelope.mailOptions.body).toBeUndefined()
    })
  )

  it.live("a file with bare LF lines is stored with CRLF, plus the CRLF curl adds at its end", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = "Subject: lf\n\nline one\nline two\n"
      const delivery = yield* uploaded(server, content)
      // curl sends the LFs as they are; the server (bareLineEndings "normalize") makes them CRLF.
      // The file does not end in CRLF, so curl sends "\r\n.\r\n": one empty line more
      expect(text(delivery.data)).toBe("Subject: lf\r\n\r\nline one\r\nline two\r\n\r\n")
      expect(text(delivery.data)).toBe(crlf(content) + "\r\n")
    })
  )

  it.live("--crlf: curl converts a bare LF file itself and stuffs its dots; stored exactly", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = "Subject: lf\n\n.dot\n..two\n.\nend\n"
      const delivery = yield* uploaded(server, content, { options: ["--crlf"] })
      expect(text(delivery.data)).toBe(crlf(content))
    })
  )

  it.live("without --crlf, a dot after a bare LF is taken as stuffing (curl does not stuff there)", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      // on the wire: "…\n.dot\n..two\n.\nend\n\r\n.\r\n". The server treats a bare LF as a line
      // end for dot-stuffing (as smtplib, which stuffs after it, and Postfix do), so each leading
      // dot is removed; a lone "." after a bare LF never ends the message. Use --crlf.
      const delivery = yield* uploaded(server, "Subject: lf\n\n.dot\n..two\n.\nend\n")
      expect(text(delivery.data)).toBe("Subject: lf\r\n\r\ndot\r\n.two\r\n\r\nend\r\n\r\n")
    })
  )

  it.live("a file without a final line break gets one CRLF", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = "Subject: no eol\r\n\r\nlast line"
      const delivery = yield* uploaded(server, content)
      expect(text(delivery.data)).toBe(content + "\r\n")
    })
  )

  it.live("an empty file is an empty message (DATA, then the lone dot)", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const delivery = yield* uploaded(server, "")
      expect(delivery.data.length).toBe(0)
      expect(delivery.envelope.mailParameters).toEqual([])
    })
  )

  it.live("the null sender and several recipients, in order", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const content = "Subject: bounce\r\n\r\nback\r\n"
      const to = ["first@example.com", "second@example.org", "Third@Example.net"]
      const delivery = yield* uploaded(server, content, { from: "", to })
      expect(delivery.mailFrom).toBe("")
      expect(delivery.rcptTos).toEqual(to)
      expect(text(delivery.data)).toBe(content)
    })
  )

  it.live("uploads over IPv6 (smtp://[::1]:port)", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ listen: ["[::1]:0"] })
      const content = "Subject: v6\r\n\r\nover IPv6\r\n"
      const delivery = yield* uploaded(server, content)
      expect(delivery.peer.address).toBe("::1")
      expect(text(delivery.data)).toBe(content)
    })
  )

  it.live("fails (exit 55) when its declared SIZE is over maxMessageSize: 552 at MAIL", () =>
    Effect.gen(function* () {
      const server = yield* withServer({ maxMessageSize: 1000 })
      const result = yield* curl(server, "Subject: big\r\n\r\n" + "x".repeat(1000) + "\r\n")
      expect(result.exitCode).toBe(55)
      expect(result.stderr).toContain("552")
      expect(yield* server.deliveries).toEqual([])
    })
  )
})
