// Many clients at once, and pipelined commands: every message arrives whole, with its own
// envelope, and the replies come back in order.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import nodemailer from "nodemailer"
import { python } from "../utils/process.js"
import { connect } from "../utils/rawClient.js"
import { text, withServer } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"

describe("concurrency", () => {
  it.live("50 concurrent nodemailer sessions: 50 deliveries, none lost, none mixed", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const sessions = Array.from({ length: 50 }, (_, i) => i)
      const body = (i: number) => `Subject: message ${i}\r\n\r\n${`.body of message ${i}\r\n`.repeat(200 + i)}`
      yield* Effect.forEach(
        sessions,
        (i) =>
          Effect.promise(() =>
            nodemailer
              .createTransport({ host: server.host, port: server.port, secure: false, ignoreTLS: true })
              .sendMail({
                envelope: { from: `sender${i}@example.com`, to: [`concurrent${i}@example.com`] },
                raw: body(i)
              })
          ),
        { concurrency: "unbounded", discard: true }
      )
      const deliveries = yield* server.deliveries
      expect(deliveries).toHaveLength(50)
      // one connection each
      expect(new Set(deliveries.map((d) => d.peer.port)).size).toBe(50)
      const byRecipient = new Map(deliveries.map((d) => [d.rcptTos.join(","), d]))
      for (const i of sessions) {
        const delivery = byRecipient.get(`concurrent${i}@example.com`)
        expect(delivery, `no delivery for concurrent${i}@example.com`).toBeDefined()
        expect(delivery!.mailFrom).toBe(`sender${i}@example.com`)
        expect(text(delivery!.data)).toBe(body(i))
      }
    })
  )

  it.live.skipIf(skipWithout("python3"))("50 smtplib threads started together, 3 messages each on one connection", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const result = yield* python(
        `
import smtplib, sys, threading
port = int(sys.argv[1])
barrier = threading.Barrier(50, timeout=15)
errors = []
def body(i, m):
    return (f"Subject: {i}/{m}\\r\\n\\r\\n" + f".thread {i} message {m}\\r\\n" * (100 + i * 3 + m)).encode()
def client(i):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=15)
        s.ehlo(f"thread{i}.example")
        barrier.wait()  # all 50 connected before anyone sends
        for m in range(3):
            s.sendmail(f"t{i}@example.com", [f"thread{i}-{m}@example.com"], body(i, m))
        s.quit()
    except Exception as e:
        errors.append(f"{i}: {e!r}")
threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
for t in threads: t.start()
for t in threads: t.join()
print(errors)`,
        [String(server.port)]
      )
      expect(result.exitCode, result.stderr).toBe(0)
      expect(result.stdout.trim()).toBe("[]")
      const deliveries = yield* server.deliveries
      expect(deliveries).toHaveLength(150)
      const byRecipient = new Map(deliveries.map((d) => [d.rcptTos.join(","), d]))
      for (let i = 0; i < 50; i++) {
        for (let m = 0; m < 3; m++) {
          const delivery = byRecipient.get(`thread${i}-${m}@example.com`)
          expect(delivery, `no delivery for thread${i}-${m}`).toBeDefined()
          expect(delivery!.helo).toBe(`thread${i}.example`)
          expect(delivery!.mailFrom).toBe(`t${i}@example.com`)
          expect(text(delivery!.data)).toBe(
            `Subject: ${i}/${m}\r\n\r\n` + `.thread ${i} message ${m}\r\n`.repeat(100 + i * 3 + m)
          )
        }
      }
      // the three messages of one client came over one connection
      for (let i = 0; i < 50; i++) {
        const ports = new Set([0, 1, 2].map((m) => byRecipient.get(`thread${i}-${m}@example.com`)!.peer.port))
        expect(ports.size).toBe(1)
      }
    })
  )

  it.live("50 raw sessions open at once, their bodies interleaved write by write", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const ids = Array.from({ length: 50 }, (_, i) => i)
      const clients = yield* Effect.forEach(ids, () => connect(server.host, server.port), { concurrency: "unbounded" })
      yield* Effect.forEach(clients, (client) => client.status, { concurrency: "unbounded" })
      expect(yield* server.activeSessions).toBe(50)
      // EHLO, then the envelope pipelined: a client may pipeline only after EHLO, up to DATA
      yield* Effect.forEach(clients, (client, i) => client.write(`EHLO raw${i}.example\r\n`))
      const ehlos = yield* Effect.forEach(clients, (client) => client.status, { concurrency: "unbounded" })
      expect(ehlos).toEqual(Array(50).fill("250 ENHANCEDSTATUSCODES"))
      yield* Effect.forEach(clients, (client, i) =>
        client.write(`MAIL FROM:<s${i}@example.com>\r\nRCPT TO:<raw${i}@example.com>\r\nDATA\r\n`)
      )
      const replies = yield* Effect.forEach(
        clients,
        (client) => Effect.all([client.status, client.status, client.status]),
        { concurrency: "unbounded" }
      )
      for (const reply of replies) {
        expect(reply).toEqual(["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"])
      }
      const body = (i: number) => `Subject: raw ${i}\r\n\r\n` + `..line ${i}\r\n`.repeat(20 + i) + `.\r\nQUIT\r\n`
      // cut each client's data in five pieces, the last cuts inside the final CRLF . CRLF, and
      // send piece k of every client before piece k + 1 of any
      const pieces = ids.map((i) => {
        const data = body(i)
        const end = data.length - "QUIT\r\n".length
        const cuts = [0, 7, Math.floor(end / 2) + (i % 5), end - 4, end - 2, data.length]
        return cuts.slice(1).map((cut, k) => data.slice(cuts[k], cut))
      })
      for (let k = 0; k < 5; k++) {
        yield* Effect.forEach(clients, (client, i) => client.write(pieces[i]![k]!))
        yield* Effect.sleep("5 millis")
      }
      const ends = yield* Effect.forEach(clients, (client) => Effect.all([client.status, client.status]), {
        concurrency: "unbounded"
      })
      for (const end of ends) expect(end).toEqual(["250 2.0.0 Ok: message accepted", "221 2.0.0 Bye"])
      const deliveries = yield* server.deliveries
      expect(deliveries).toHaveLength(50)
      const byRecipient = new Map(deliveries.map((d) => [d.rcptTos.join(","), d]))
      for (const i of ids) {
        const delivery = byRecipient.get(`raw${i}@example.com`)
        expect(delivery, `no delivery for raw${i}@example.com`).toBeDefined()
        expect(delivery!.helo).toBe(`raw${i}.example`)
        expect(delivery!.mailFrom).toBe(`s${i}@example.com`)
        expect(text(delivery!.data)).toBe(`Subject: raw ${i}\r\n\r\n` + `.line ${i}\r\n`.repeat(20 + i))
      }
    })
  )

  it.live("pipelining after EHLO: one write of six commands gets six replies in order", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const client = yield* connect(server.host, server.port)
      expect(yield* client.reply).toEqual(["220 mx.test ESMTP effect-smtpd"])
      yield* client.write("EHLO x\r\n")
      expect(yield* client.reply).toEqual([
        "250-mx.test",
        "250-PIPELINING",
        "250-SIZE 33554432",
        "250-8BITMIME",
        "250-CHUNKING",
        "250-BINARYMIME",
        "250-DSN",
        "250 ENHANCEDSTATUSCODES"
      ])
      // DATA ends the group (RFC 2920 §3.1): the body waits for 354
      yield* client.write(
        "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<bad address>\r\nFOO\r\nRCPT TO:<g@h.i>\r\nDATA\r\n"
      )
      expect(yield* client.reply).toEqual(["250 2.1.0 Ok"])
      expect(yield* client.reply).toEqual(["250 2.1.5 Ok"])
      expect(yield* client.reply).toEqual(["501 5.1.3 Invalid recipient address"])
      expect(yield* client.reply).toEqual(["500 5.5.2 Command unrecognized"])
      expect(yield* client.reply).toEqual(["250 2.1.5 Ok"])
      expect(yield* client.reply).toEqual(["354 End data with <CR><LF>.<CR><LF>"])
      expect(client.unread()).toBe("")
      yield* client.write("Subject: pipelined\r\n\r\n..dotted\r\nbody\r\n.\r\nQUIT\r\n")
      expect(yield* client.reply).toEqual(["250 2.0.0 Ok: message accepted"])
      expect(yield* client.reply).toEqual(["221 2.0.0 Bye"])
      yield* client.closed
      expect(client.unread()).toBe("")
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.helo).toBe("x")
      expect(delivery!.mailFrom).toBe("a@b.c")
      expect(delivery!.rcptTos).toEqual(["d@e.f", "g@h.i"])
      expect(text(delivery!.data)).toBe("Subject: pipelined\r\n\r\n.dotted\r\nbody\r\n")
    })
  )
})
