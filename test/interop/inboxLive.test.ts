// `--class Inbox` as its users meet it (issue 16): the built command in a child process, its
// websocket at /api/events as mail arrives and changes, and its --inbox file across a restart.
// Every test starts its own server.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Path from "node:path"
import { builtCommand } from "../utils/command.js"
import {
  bySubject,
  healthy,
  list,
  listed,
  message,
  part,
  plain,
  raw,
  search,
  sendRaw,
  subjects,
  withAttachment
} from "../utils/inboxMail.js"
import { events, inboxProcess, poll, request, tempDir } from "../utils/inboxProcess.js"

const main = builtCommand()

// --- the websocket ----------------------------------------------------------------------------

describe("the inbox's websocket", () => {
  it.live(
    "sends new for a stored message, update when it is opened, delete and truncate",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const live = yield* events(inbox.web)
        expect(live.frames()[0]).toMatchObject({ Type: "stats", Data: { Total: 0, Unread: 0 } })

        yield* sendRaw(
          inbox,
          withAttachment(
            { from: "Web Socket <ws@example.com>", to: "live@example.net", subject: "live one", body: "Hello, live." },
            "a.bin"
          )
        )
        const created = yield* live.next((f) => f.Type === "new")
        expect(created, JSON.stringify(live.frames())).toBeDefined()
        const summary = bySubject(yield* list(inbox), "live one")
        expect(created!.Data).toEqual(summary)
        expect(created!.Data).toMatchObject({
          From: { Name: "Web Socket", Address: "ws@example.com" },
          To: [{ Name: "", Address: "live@example.net" }],
          Subject: "live one",
          Read: false,
          Attachments: 1,
          Snippet: "Hello, live."
        })

        let seen = live.frames().length
        yield* message(inbox, summary.ID)
        const updated = yield* live.next((f) => f.Type === "update", seen)
        expect(updated).toEqual({ Type: "update", Data: { ID: summary.ID, Read: true } })

        seen = live.frames().length
        const gone = yield* request(inbox.web, "/api/v1/messages", { method: "DELETE", json: { IDs: [summary.ID] } })
        expect(gone.status).toBe(200)
        const deleted = yield* live.next((f) => f.Type === "delete", seen)
        expect(deleted).toEqual({ Type: "delete", Data: { ID: summary.ID } })

        seen = live.frames().length
        yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "second", body: "2" }))
        yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "third", body: "3" }))
        const news = yield* poll(
          Effect.sync(() =>
            live
              .frames()
              .slice(seen)
              .filter((f) => f.Type === "new")
          ),
          (frames) => frames.length >= 2
        )
        expect(news.map((f) => f.Data.Subject)).toEqual(["second", "third"])

        seen = live.frames().length
        expect((yield* request(inbox.web, "/api/v1/messages", { method: "DELETE" })).status).toBe(200)
        const truncated = yield* live.next((f) => f.Type === "truncate", seen)
        expect(truncated).toMatchObject({ Type: "truncate" })
        expect(
          live
            .frames()
            .slice(seen)
            .filter((f) => f.Type === "delete")
        ).toEqual([])
        const stats = yield* live.next((f) => f.Type === "stats" && f.Data.Total === 0, seen)
        expect(stats).toMatchObject({ Type: "stats", Data: { Total: 0, Unread: 0 } })
        yield* healthy(inbox)
      }),
    60_000
  )

  it.live(
    "outlives clients that come and go: 30 sockets opened and dropped, the one left still hears",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const staying = yield* events(inbox.web)
        for (let round = 0; round < 3; round++) {
          yield* Effect.scoped(Effect.forEach(Array.from({ length: 10 }), () => events(inbox.web), { concurrency: 10 }))
          yield* sendRaw(
            inbox,
            plain({ from: "a@example.com", to: "b@example.net", subject: `round ${round}`, body: "r" })
          )
        }
        const news = yield* poll(
          Effect.sync(() => staying.frames().filter((f) => f.Type === "new")),
          (frames) => frames.length >= 3
        )
        expect(news.map((f) => f.Data.Subject)).toEqual(["round 0", "round 1", "round 2"])
        yield* healthy(inbox)
      }),
    60_000
  )

  it.live(
    "a plain HTTP GET of /api/events is refused with JSON, and the server goes on",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const answer = yield* request(inbox.web, "/api/events")
        expect(answer.status).toBeGreaterThanOrEqual(400)
        expect(answer.status).toBeLessThan(500)
        yield* healthy(inbox)
      }),
    60_000
  )
})

// --- --inbox FILE -----------------------------------------------------------------------------

describe("the inbox in a file", () => {
  it.live(
    "keeps messages, read status and parts across a restart (SIGTERM, then SIGKILL) on the same --inbox file",
    () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "inbox.db")
        const first = yield* inboxProcess(main, ["--inbox", file])
        const one = withAttachment(
          { from: "p@example.com", to: "q@example.net", subject: "persisted one", body: "Kept." },
          "kept.bin"
        )
        const two = plain({ from: "p@example.com", to: "q@example.net", subject: "persisted two", body: "Also kept." })
        yield* sendRaw(first, one)
        yield* sendRaw(first, two)
        const before = yield* listed(first, 2)
        const opened = yield* message(first, bySubject(before, "persisted one").ID)
        const beforeRead = yield* list(first)
        yield* first.kill("SIGTERM")

        const second = yield* inboxProcess(main, ["--inbox", file])
        const after = yield* list(second)
        expect(after).toEqual(beforeRead)
        expect(after.unread).toBe(1)
        const again = yield* message(second, opened.ID)
        expect(again).toEqual(opened)
        expect(
          (yield* part(second, opened.ID, opened.Attachments[0]!.PartID)).body.equals(Buffer.from([0, 1, 2, 3, 4]))
        ).toBe(true)
        expect((yield* raw(second, opened.ID)).toString("latin1")).toBe(one)
        expect((yield* raw(second, bySubject(after, "persisted two").ID)).toString("latin1")).toBe(two)

        // a third message, then kill -9: all three there after the next start
        yield* sendRaw(
          second,
          plain({ from: "p@example.com", to: "q@example.net", subject: "persisted three", body: "3" })
        )
        yield* listed(second, 3)
        yield* second.kill("SIGKILL")
        const third = yield* inboxProcess(main, ["--inbox", file])
        const last = yield* list(third)
        expect(subjects(last)).toEqual(["persisted three", "persisted two", "persisted one"])
        expect(last.messages.map((m) => m.Read)).toEqual([false, false, true])
        expect(subjects(yield* search(third, "also kept"))).toEqual(["persisted two"])
      }),
    60_000
  )
})
