// `--class Inbox` as its users meet it (issue 16): the built command in a child process, mail
// sent to it over SMTP and searched, read, marked, deleted and sent on through Mailpit's HTTP API
// v1 on --web. Every test starts its own server.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { builtCommand } from "../utils/command.js"
import {
  bySubject,
  expectError,
  headers,
  info,
  list,
  listed,
  message,
  part,
  pdf,
  plain,
  png,
  raw,
  search,
  sendRaw,
  subjects,
  withAttachment
} from "../utils/inboxMail.js"
import { events, inboxProcess, request } from "../utils/inboxProcess.js"

const main = builtCommand()

// --- search -----------------------------------------------------------------------------------

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
        // `tz`: a date without a zone is in that zone (Mailpit's parameter); tomorrow (UTC) begins
        // 14 hours earlier at UTC+14 (Etc/GMT-14) and 12 hours later at UTC-12 (Etc/GMT+12)
        const created = Date.parse(bySubject(yield* list(inbox), "Lunch plans").Created)
        const tomorrow = new Date(created + 86_400_000).toISOString().slice(0, 10)
        const midnight = Date.parse(`${tomorrow}T00:00:00Z`)
        const before = (tz: string) =>
          search(inbox, `before:${tomorrow} subject:lunch`, `&tz=${encodeURIComponent(tz)}`)
        expect((yield* before("Etc/GMT+12")).messages_count).toBe(2)
        expect((yield* before("Etc/GMT-14")).messages_count).toBe(created < midnight - 14 * 3_600_000 ? 2 : 0)
        // today (UTC) at UTC-12 ends at noon UTC; without tz at midnight, before any message
        const today = new Date(created).toISOString().slice(0, 10)
        const todayAt = (tz: string) => search(inbox, `before:${today} subject:lunch`, tz === "" ? "" : `&tz=${tz}`)
        expect((yield* todayAt("")).messages_count).toBe(0)
        expect((yield* todayAt("Etc%2FGMT%2B12")).messages_count).toBe(created < midnight - 12 * 3_600_000 ? 2 : 0)
        expectError(yield* request(inbox.web, "/api/v1/search?query=lunch&tz=Nowhere%2FLand"), 400)

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

// --- read status, deletion, info, send, retention ---------------------------------------------

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
        // the server's own counts: six taken over SMTP, their bytes, none refused or deleted yet
        const bytes = page.messages.reduce((sum, m) => sum + m.Size, 0)
        const runtime = (deleted: number) => ({
          RuntimeStats: { SMTPAccepted: 6, SMTPAcceptedSize: bytes, SMTPRejected: 0, MessagesDeleted: deleted }
        })
        expect(yield* info(inbox)).toMatchObject(runtime(0))

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
        expect(yield* info(inbox)).toMatchObject({ Messages: 3, Unread: 3, ...runtime(3) })
        // no body: all
        const cleared = yield* request(inbox.web, "/api/v1/messages", { method: "DELETE" })
        expect([cleared.status, cleared.text]).toEqual([200, "ok"])
        expect(yield* list(inbox)).toMatchObject({ total: 0, unread: 0, messages_count: 0, count: 0, messages: [] })
        expect(yield* info(inbox)).toMatchObject({ Messages: 0, Unread: 0, ...runtime(6) })
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
        // the two oldest pruned: deleted, as Mailpit counts them
        expect(yield* info(inbox)).toMatchObject({
          Messages: 3,
          Unread: 3,
          RuntimeStats: { MessagesDeleted: 2, SMTPAccepted: 5 }
        })
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
