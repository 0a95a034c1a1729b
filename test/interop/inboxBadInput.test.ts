// `--class Inbox` as its users meet it (issue 16): the built command in a child process, sent
// malformed and outsized mail and bad API requests on --web; it keeps what it can and answers
// every request without crashing. Every test starts its own server.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { builtCommand } from "../utils/command.js"
import {
  expectError,
  headers,
  healthy,
  list,
  listed,
  message,
  part,
  plain,
  raw,
  search,
  sendRaw,
  subjects
} from "../utils/inboxMail.js"
import { inboxProcess, request } from "../utils/inboxProcess.js"

const main = builtCommand()

// --- bad input --------------------------------------------------------------------------------

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
