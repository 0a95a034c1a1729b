// Many clients at once: every message arrives, whole, with its own envelope.
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import nodemailer from "nodemailer"
import * as Server from "../utils/server.js"
import { python } from "../utils/process.js"

layer(Server.layer(), { excludeTestServices: true })("concurrency", (it) => {
  it.effect("50 concurrent nodemailer sessions: none lost, none mixed", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const sessions = Array.from({ length: 50 }, (_, i) => i)
      yield* Effect.forEach(
        sessions,
        (i) =>
          Effect.promise(() =>
            nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true }).sendMail({
              envelope: { from: `sender${i}@example.com`, to: [`concurrent${i}@example.com`] },
              raw: `Subject: message ${i}\r\n\r\n${`body of message ${i}\r\n`.repeat(200 + i)}`
            })
          ),
        { concurrency: "unbounded", discard: true }
      )
      for (const i of sessions) {
        const deliveries = yield* Server.deliveriesTo(`concurrent${i}@example.com`)
        expect(deliveries).toHaveLength(1)
        expect(deliveries[0]!.mailFrom).toBe(`sender${i}@example.com`)
        expect(deliveries[0]!.rcptTos).toEqual([`concurrent${i}@example.com`])
        expect(Server.text(deliveries[0]!.data)).toBe(
          `Subject: message ${i}\r\n\r\n${`body of message ${i}\r\n`.repeat(200 + i)}`
        )
      }
    })
  )

  it.effect("50 Python threads, several messages each on one connection", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const result = yield* Effect.promise(() =>
        python(`
import smtplib, threading
errors = []
def client(i):
    try:
        s = smtplib.SMTP("127.0.0.1", ${port})
        for m in range(3):
            s.sendmail(f"t{i}@example.com", [f"thread{i}-{m}@example.com"], f"Subject: {i}/{m}\\r\\n\\r\\n".encode() + bytes([i, m]) * 1000)
        s.quit()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
for t in threads: t.start()
for t in threads: t.join()
print(len(errors), errors[:3])`)
      )
      expect(result.stdout.trim()).toBe("0 []")
      for (let i = 0; i < 50; i++) {
        for (let m = 0; m < 3; m++) {
          const deliveries = yield* Server.deliveriesTo(`thread${i}-${m}@example.com`)
          expect(deliveries).toHaveLength(1)
          const expected = Buffer.concat([
            Buffer.from(`Subject: ${i}/${m}\r\n\r\n`),
            Buffer.from(new Uint8Array(2000).map((_, k) => (k % 2 === 0 ? i : m)))
          ])
          // smtplib turns a lone CR or LF byte into CRLF and ends the message with CRLF
          const sent = Buffer.from(expected.toString("latin1").replace(/\r\n|\r|\n/g, "\r\n") + "\r\n", "latin1")
          expect(Buffer.from(deliveries[0]!.data).equals(sent)).toBe(true)
        }
      }
    })
  )
})
