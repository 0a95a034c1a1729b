// The inbox's store in SQLite: newest first, the oldest pruned past the limit, search in
// Mailpit's syntax, read status, deletion, and the events a live view gets for each change.
import { describe, expect, it } from "@effect/vitest"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Fiber, Layer, Stream } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Inbox from "../../src/inbox/Inbox.js"
import * as SqlInbox from "../../src/inbox/SqlInbox.js"
import * as NodeMimeParser from "../../src/node/NodeMimeParser.js"

const inboxOf = (max: number) =>
  SqlInbox.layer({ parse: NodeMimeParser.parse, max, version: "test" }).pipe(
    Layer.provide(SqliteClient.layer({ filename: ":memory:" }))
  )

// the inbox with its SqlClient left in the context, for tests that look at the tables
const inboxAndSqlOf = (max?: number) =>
  SqlInbox.layer({ parse: NodeMimeParser.parse, max, version: "test" }).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))
  )

const mail = (n: number, extra = "") =>
  new TextEncoder().encode(
    `From: Sender ${n} <s${n}@example.com>\r\nTo: r${n % 2}@example.net\r\nSubject: number ${n}\r\n${extra}\r\nbody of ${n}\r\n`
  )

describe("SqlInbox", () => {
  it.live("keeps the newest max messages, newest first, and says what it pruned", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const events = yield* Effect.forkChild(Stream.runCollect(Stream.take(inbox.events, 6)))
      yield* Effect.yieldNow
      for (const n of [1, 2, 3, 4])
        yield* inbox.store(mail(n), { mailFrom: `s${n}@example.com`, recipients: ["x@y.z"] })
      const page = yield* inbox.list({ start: 0, limit: 50 })
      expect(page.messages.map((m) => m.Subject)).toEqual(["number 4", "number 3", "number 2"])
      expect(page).toMatchObject({ total: 3, unread: 3, matching: 3 })
      const types = Array.from(yield* Fiber.join(events), (e) => e.Type)
      // each store: new; the fourth also prune; the counts once, a moment after the burst
      expect(types).toEqual(["new", "new", "new", "new", "prune", "stats"])
    }).pipe(Effect.provide(inboxOf(3)))
  )

  it.live("keeps the limit across deletions and a reopening with a lower one; concurrent stores too", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-inbox-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const file = Path.join(dir, "inbox.db")
      const onFile = (max: number) =>
        SqlInbox.layer({ parse: NodeMimeParser.parse, max, version: "test" }).pipe(
          Layer.provide(SqliteClient.layer({ filename: file }))
        )
      const subjects = Effect.map(
        Effect.flatMap(Inbox.Inbox, (inbox) => inbox.list({ start: 0, limit: 50 })),
        (page) => page.messages.map((m) => m.Subject)
      )
      yield* Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7], (n) => inbox.store(mail(n)), { concurrency: "unbounded" })
        expect(yield* subjects).toHaveLength(5)
        // two deleted: room for two more before the oldest goes again
        const [newest, next] = (yield* inbox.list({ start: 0, limit: 2 })).messages
        yield* inbox.remove({ _tag: "Ids", ids: [newest!.ID, next!.ID] })
        yield* inbox.store(mail(8))
        yield* inbox.store(mail(9))
        expect(yield* subjects).toHaveLength(5)
        yield* inbox.store(mail(10))
        expect(yield* subjects).toHaveLength(5)
      }).pipe(Effect.provide(onFile(5)), Effect.scoped)
      // reopened with a limit of 2: the next message leaves the newest 2
      yield* Effect.gen(function* () {
        expect(yield* subjects).toHaveLength(5)
        yield* (yield* Inbox.Inbox).store(mail(11))
        expect(yield* subjects).toEqual(["number 11", "number 10"])
      }).pipe(Effect.provide(onFile(2)), Effect.scoped)
    }).pipe(Effect.scoped)
  )

  it.effect("search, paging, read status and deletion", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const ids: Array<string> = []
      for (const n of [1, 2, 3, 4, 5]) ids.push((yield* inbox.store(mail(n, n === 5 ? "X-Tags: urgent\r\n" : ""))).ID)
      const search = (query: string) =>
        Effect.map(inbox.list({ start: 0, limit: 50, query }), (p) => p.messages.map((m) => m.Subject))
      expect(yield* search("to:r1@example.net")).toEqual(["number 5", "number 3", "number 1"])
      expect(yield* search("-to:r1@example.net")).toEqual(["number 4", "number 2"])
      expect(yield* search('"body of 2"')).toEqual(["number 2"])
      expect(yield* search("from:s3 subject:number")).toEqual(["number 3"])
      expect(yield* search("tag:urgent")).toEqual(["number 5"])
      expect(yield* search("100%_")).toEqual([])
      const second = yield* inbox.list({ start: 1, limit: 2, query: "subject:number" })
      expect({ matching: second.matching, subjects: second.messages.map((m) => m.Subject) }).toEqual({
        matching: 5,
        subjects: ["number 4", "number 3"]
      })
      expect(yield* inbox.setRead({ _tag: "Ids", ids: [ids[0]!, "unknown"] }, true)).toBe(1)
      expect(yield* search("is:read")).toEqual(["number 1"])
      expect(yield* inbox.setRead({ _tag: "Search", query: "to:r0@example.net" }, true)).toBe(2)
      expect((yield* inbox.stats).unread).toBe(2)
      expect(yield* inbox.remove({ _tag: "Search", query: "is:read" })).toBe(3)
      expect(yield* search("")).toEqual(["number 5", "number 3"])
      expect(yield* inbox.get(ids[0]!)).toBeUndefined()
      expect((yield* inbox.get("latest"))?.parsed.subject).toBe("number 5")
      expect(yield* inbox.remove({ _tag: "All" })).toBe(2)
      expect(yield* inbox.get("latest")).toBeUndefined()
    }).pipe(Effect.provide(inboxOf(500)))
  )

  it.effect("free text: an ASCII text and another, in any case; a row that keeps its text in the parse", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const sql = yield* SqlClient.SqlClient
      const plain = (subject: string, body: string) =>
        new TextEncoder().encode(`From: a@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n`)
      const ascii = (yield* inbox.store(plain("one", "Order NUMBER 42 Shipped"))).ID
      yield* inbox.store(plain("two", "Grüße aus KÖLN"))
      const search = (query: string) =>
        Effect.map(inbox.list({ start: 0, limit: 50, query }), (p) => p.messages.map((m) => m.Subject))
      expect(yield* search('"number 42"')).toEqual(["one"])
      expect(yield* search("SHIPPED")).toEqual(["one"])
      expect(yield* search("köln")).toEqual(["two"])
      expect(yield* search("GRÜSSE")).toEqual([])
      expect(yield* search("grüße")).toEqual(["two"])
      expect(yield* search("-shipped")).toEqual(["two"])
      expect((yield* inbox.get(ascii))?.parsed.text).toBe("Order NUMBER 42 Shipped\n")
      // a row stored before the text had its column: the text in the parse's JSON, "" beside it
      yield* sql`UPDATE inbox_messages SET parsed = json_set(parsed, '$.text', 'kept in the parse'), text = ''
        WHERE id = ${ascii}`
      expect((yield* inbox.get(ascii))?.parsed.text).toBe("kept in the parse")
    }).pipe(Effect.provide(inboxAndSqlOf()))
  )

  it.effect("tags: set on some, renamed and removed everywhere; search and summaries follow", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const one = (yield* inbox.store(mail(1, "X-Tags: alpha\r\n"))).ID
      const two = (yield* inbox.store(mail(2))).ID
      const tagged = (query: string) =>
        Effect.map(inbox.list({ start: 0, limit: 50, query }), (p) => p.messages.map((m) => m.ID))
      expect(yield* inbox.retag({ _tag: "Ids", ids: [two] }, () => ["beta", "alpha", "beta"])).toBe(1)
      expect((yield* inbox.list({ start: 0, limit: 50 })).messages.map((m) => m.Tags)).toEqual([
        ["beta", "alpha"],
        ["alpha"]
      ])
      expect(yield* tagged("tag:alpha")).toEqual([two, one])
      expect(yield* inbox.retag({ _tag: "All" }, (tags) => tags.map((t) => (t === "alpha" ? "gamma" : t)))).toBe(2)
      expect(yield* tagged("tag:alpha")).toEqual([])
      expect(yield* tagged("tag:gamma")).toEqual([two, one])
      expect((yield* inbox.get(one))?.parsed.tags).toEqual(["gamma"])
      expect(yield* inbox.retag({ _tag: "All" }, (tags) => tags.filter((t) => t !== "gamma"))).toBe(2)
      expect(yield* tagged("is:tagged")).toEqual([two])
      expect(Object.keys((yield* inbox.stats).tags)).toEqual(["beta"])
    }).pipe(Effect.provide(inboxOf(500)))
  )

  it.effect("a pruned message's parts go with it; a kept one's stay", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const sql = yield* SqlClient.SqlClient
      const attached = (n: number) =>
        mail(
          n,
          'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n' +
            `--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${n}.bin"\r\n\r\nxyz\r\n--b--`
        )
      const partsOf = Effect.map(sql<{ readonly message_id: string }>`SELECT message_id FROM inbox_parts`, (rows) =>
        rows.map((row) => row.message_id)
      )
      const first = (yield* inbox.store(attached(1))).ID
      yield* inbox.store(mail(2))
      const third = (yield* inbox.store(attached(3))).ID
      expect(new Set(yield* partsOf)).toEqual(new Set([first, third]))
      yield* inbox.store(mail(4))
      yield* inbox.store(mail(5))
      // the newest three kept: 3, 4 and 5
      expect(yield* partsOf).toEqual([third])
      const kept = yield* inbox.get(third)
      expect(kept?.parsed.attachments.map((a) => a.FileName)).toEqual(["3.bin"])
      yield* inbox.store(mail(6))
      expect(yield* partsOf).toEqual([])
    }).pipe(Effect.provide(inboxAndSqlOf(3)))
  )

  it.effect("a transaction that fails while it prunes undoes the prune: the limit holds after", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const sql = yield* SqlClient.SqlClient
      const subjects = Effect.map(inbox.list({ start: 0, limit: 50 }), (page) => page.messages.map((m) => m.Subject))
      for (const n of [1, 2, 3]) yield* inbox.store(mail(n))
      // the fourth's transaction inserts it, then fails to delete the oldest
      yield* sql.unsafe("CREATE TRIGGER keep BEFORE DELETE ON inbox_messages BEGIN SELECT RAISE(ABORT, 'kept'); END")
      expect((yield* Effect.flip(inbox.store(mail(4))))._tag).toBe("InboxError")
      yield* sql.unsafe("DROP TRIGGER keep")
      expect(yield* subjects).toEqual(["number 3", "number 2", "number 1"])
      yield* inbox.store(mail(5))
      yield* inbox.store(mail(6))
      expect(yield* subjects).toEqual(["number 6", "number 5", "number 3"])
    }).pipe(Effect.provide(inboxAndSqlOf(3)))
  )

  it.live("a transaction that fails fails each message in it, stores none of them, and the limit holds after", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const sql = yield* SqlClient.SqlClient
      const subjects = Effect.map(inbox.list({ start: 0, limit: 50 }), (page) => page.messages.map((m) => m.Subject))
      for (const n of [1, 2]) yield* inbox.store(mail(n))
      // an attachment's row cannot go in: its transaction fails, with whatever came with it
      yield* sql.unsafe("DROP TABLE inbox_parts")
      const attached = mail(
        3,
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n' +
          '--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.bin"\r\n\r\nxyz\r\n--b--'
      )
      const results = yield* Effect.forEach([attached, mail(4), mail(5)], (raw) => Effect.result(inbox.store(raw)), {
        concurrency: "unbounded"
      })
      expect(results[0]?._tag).toBe("Failure")
      // kept if and only if answered as stored (the inbox keeps 3: the oldest may have gone)
      const kept = yield* subjects
      results.forEach((result, i) => expect(kept.includes(`number ${i + 3}`)).toBe(result._tag === "Success"))
      for (const result of results) if (result._tag === "Failure") expect(result.failure._tag).toBe("InboxError")
      // counted again after the failure: three more leave the newest three
      yield* sql.unsafe("CREATE TABLE inbox_parts (message_id TEXT, part_id TEXT, content BLOB)")
      for (const n of [6, 7, 8]) yield* inbox.store(mail(n))
      expect(yield* subjects).toEqual(["number 8", "number 7", "number 6"])
      expect((yield* inbox.list({ start: 0, limit: 50 })).total).toBe(3)
    }).pipe(Effect.provide(inboxAndSqlOf(3)))
  )
})
