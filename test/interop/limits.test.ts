// Limits and options as real clients meet them.
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Server from "../utils/server.js"
import { python } from "../utils/process.js"
import { skipWithout } from "../utils/tools.js"

layer(Server.layer({ maxMessageSize: 1000 }), { excludeTestServices: true })("size limit", (it) => {
  it.effect.skipIf(skipWithout("python3"))(
    "552 at MAIL for a declared SIZE over the limit; 552 5.3.4 for a longer body, and the session goes on",
    () =>
      Effect.gen(function* () {
        const result = yield* Server.smtplib(`
s.ehlo()
print(s.mail("a@example.com", ["SIZE=5000"]))
print(s.mail("a@example.com"))
print(s.rcpt("limit@example.com"))
print(s.data(b"x" * 2000))
s.sendmail("a@example.com", ["limit@example.com"], b"Subject: small\\r\\n\\r\\nfits\\r\\n")
print("second accepted")
s.quit()`)
        expect(result.stderr).toBe("")
        expect(result.stdout.trim().split("\n")).toEqual([
          "(552, b'5.3.4 Message size exceeds fixed maximum message size')",
          "(250, b'2.1.0 Ok')",
          "(250, b'2.1.5 Ok')",
          "(552, b'5.3.4 Message size exceeds fixed maximum message size')",
          "second accepted"
        ])
        const deliveries = yield* Server.deliveriesTo("limit@example.com")
        expect(deliveries.map((d) => Server.text(d.data))).toEqual(["Subject: small\r\n\r\nfits\r\n"])
      })
  )
})

layer(Server.layer({ smtpUtf8: true }), { excludeTestServices: true })("SMTPUTF8", (it) => {
  it.effect.skipIf(skipWithout("python3"))("accepts UTF-8 addresses with the SMTPUTF8 parameter", () =>
    Effect.gen(function* () {
      const result = yield* Server.smtplib(`
s.ehlo()
print("smtputf8" in s.esmtp_features)
s.sendmail("j\\u00f6rg@b\\u00fccher.example", ["\\u0434\\u0436\\u0430\\u043c\\u0430\\u043b@example.com"], "Subject: utf8\\r\\n\\r\\nH\\u00e9llo\\r\\n".encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
s.quit()`)
      expect(result.stderr).toBe("")
      expect(result.stdout.trim()).toBe("True")
      const [delivery] = yield* Server.deliveriesTo("джамал@example.com")
      expect(delivery!.mailFrom).toBe("jörg@bücher.example")
      expect(Buffer.from(delivery!.data).toString("utf8")).toBe("Subject: utf8\r\n\r\nHéllo\r\n")
    })
  )
})

describe("HELO, pipelining and errors over a real socket", () => {
  layer(Server.layer(), { excludeTestServices: true })("one write", (it) => {
    it.effect.skipIf(skipWithout("python3"))("answers a batch pipelined after EHLO in order", () =>
      Effect.gen(function* () {
        const port = yield* Server.port
        const result = yield* python(`
import socket
s = socket.create_connection(("127.0.0.1", ${port}))
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode()
        lines.append(line.strip())
        if line[3] == " ": return lines
reply()
s.sendall(b"EHLO x\\r\\n")
print(reply()[-1])
s.sendall(b"MAIL FROM:<a@b.example>\\r\\nRCPT TO:<pipe@example.com>\\r\\nRCPT TO:<bad address>\\r\\nFOO\\r\\nDATA\\r\\n")
for _ in range(5): print(reply()[-1])
s.sendall(b"pipelined body\\r\\n.\\r\\nQUIT\\r\\n")
print(reply()[-1]); print(reply()[-1])`)
        expect(result.stderr).toBe("")
        expect(result.stdout.trim().split("\n")).toEqual([
          "250 ENHANCEDSTATUSCODES",
          "250 2.1.0 Ok",
          "250 2.1.5 Ok",
          "501 5.1.3 Invalid recipient address",
          "500 5.5.2 Command unrecognized",
          "354 End data with <CR><LF>.<CR><LF>",
          "250 2.0.0 Ok: message accepted",
          "221 2.0.0 Bye"
        ])
      })
    )

    it.effect.skipIf(skipWithout("python3"))(
      "answers 554 5.5.0 and closes when a client talks out of turn: before EHLO's reply, or with DATA",
      () =>
        Effect.gen(function* () {
          const port = yield* Server.port
          const result = yield* python(`
import socket
def session(*writes):
    s = socket.create_connection(("127.0.0.1", ${port}))
    f = s.makefile("rb")
    def reply():
        try:
            while True:
                line = f.readline().decode()
                if line == "": return "closed"
                if line[3] == " ": return line.rstrip()
        except ConnectionResetError:
            return "closed"
    reply()
    for data, replies in writes:
        s.sendall(data)
        for _ in range(replies): print(reply())
    print(reply())
session((b"EHLO x\\r\\nMAIL FROM:<a@b.example>\\r\\n", 1))
# SMTP smuggling's shape: the body sent together with DATA
session((b"EHLO x\\r\\n", 1), (b"MAIL FROM:<a@b.example>\\r\\nRCPT TO:<smuggled@example.com>\\r\\n", 2), (b"DATA\\r\\nbody\\r\\n.\\r\\n", 1))`)
          expect(result.stderr).toBe("")
          expect(result.stdout.trim().split("\n")).toEqual([
            "554 Protocol error: talking out of turn",
            "closed",
            "250 ENHANCEDSTATUSCODES",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "554 5.5.0 Protocol error: talking out of turn",
            "closed"
          ])
          expect(yield* Server.deliveriesTo("smuggled@example.com")).toEqual([])
        })
    )
  })
})
