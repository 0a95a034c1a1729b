// A Mailpit client library, unchanged, against `--class Inbox` (issue 16: "existing Mailpit
// clients and test plugins work unchanged"): mailpit-api 2.1.0 (the TypeScript client that
// playwright and cypress helpers build on) lists, searches, waits for, reads, marks, tags, sends
// and deletes through our API, as it does through Mailpit's.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MailpitClient } from "mailpit-api"
import { builtCommand } from "../utils/command.js"
import { plain, sendRaw, withAttachment } from "../utils/inboxMail.js"
import { inboxProcess } from "../utils/inboxProcess.js"

const main = builtCommand()

const call = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("mailpit-api (Mailpit's TypeScript client) against the inbox", () => {
  it.live(
    "lists, searches, waits, reads, marks, tags, sends and deletes",
    () =>
      Effect.gen(function* () {
        const inbox = yield* inboxProcess(main)
        const mailpit = new MailpitClient(inbox.web)
        expect(yield* call(() => mailpit.getInfo())).toMatchObject({ Messages: 0, Unread: 0 })
        expect((yield* call(() => mailpit.getConfiguration())).MessageRelay.Enabled).toBe(false)

        yield* sendRaw(inbox, plain({ from: "app@example.com", to: "ann@example.net", subject: "Welcome", body: "hi" }))
        yield* sendRaw(
          inbox,
          withAttachment(
            { from: "billing@example.com", to: "bob@example.net", subject: "Invoice", body: "see" },
            "i.pdf"
          )
        )
        const waited = yield* call(() => mailpit.waitForMessage({ query: "to:ann@example.net" }, { interval: 50 }))
        expect(waited).toMatchObject({ Subject: "Welcome", From: { Address: "app@example.com" } })
        const page = yield* call(() => mailpit.listMessages())
        expect(page).toMatchObject({ total: 2, messages_count: 2, start: 0 })
        expect(page.messages.map((m) => m.Subject)).toEqual(["Invoice", "Welcome"])
        const found = yield* call(() => mailpit.searchMessages({ query: "has:attachment" }))
        expect(found.messages.map((m) => m.Subject)).toEqual(["Invoice"])

        // the newest, its headers, source, part, and its HTML/text views
        const latest = yield* call(() => mailpit.getMessageSummary())
        expect(latest.Subject).toBe("Invoice")
        expect((yield* call(() => mailpit.getMessageHeaders(latest.ID)))["Subject"]).toEqual(["Invoice"])
        expect(yield* call(() => mailpit.getMessageSource(latest.ID))).toContain("Subject: Invoice")
        const attachment = latest.Attachments[0]!
        const blob = yield* call(() => mailpit.getMessageAttachment(latest.ID, attachment.PartID))
        expect(blob.size).toBe(attachment.Size)
        expect(yield* call(() => mailpit.renderMessageText(waited.ID))).toContain("hi")

        // read status, tags
        expect(yield* call(() => mailpit.setReadStatus({ IDs: [waited.ID], Read: false }))).toBe("ok")
        expect((yield* call(() => mailpit.getInfo())).Unread).toBe(1)
        expect(yield* call(() => mailpit.setTags({ IDs: [waited.ID], Tags: ["signup"] }))).toBe("ok")
        expect(yield* call(() => mailpit.getTags())).toEqual(["signup"])
        expect(yield* call(() => mailpit.renameTag("signup", "welcome"))).toBe("ok")
        const tagged = yield* call(() => mailpit.searchMessages({ query: "tag:welcome" }))
        expect(tagged.messages.map((m) => m.ID)).toEqual([waited.ID])
        expect(yield* call(() => mailpit.deleteTag("welcome"))).toBe("ok")
        expect(yield* call(() => mailpit.getTags())).toEqual([])

        // sending through the API, then deleting by search and the rest
        const sent = yield* call(() =>
          mailpit.sendMessage({
            From: { Email: "api@example.com", Name: "API" },
            To: [{ Email: "carol@example.net" }],
            Subject: "Through the API",
            Text: "sent by mailpit-api"
          })
        )
        expect((yield* call(() => mailpit.getMessageSummary(sent.ID))).Subject).toBe("Through the API")
        expect(yield* call(() => mailpit.deleteMessagesBySearch({ query: "subject:invoice" }))).toBe("ok")
        expect((yield* call(() => mailpit.listMessages())).total).toBe(2)
        expect(yield* call(() => mailpit.deleteMessages())).toBe("ok")
        const empty = yield* call(() => mailpit.waitForMessages({ count: 0, exact: true }, { interval: 50 }))
        expect(empty.total).toBe(0)
        // an ID that is not there: the client throws with the status
        const missing = yield* Effect.flip(Effect.tryPromise(() => mailpit.getMessageSummary("NoSuchMessage")))
        expect(String(missing.cause)).toContain("404")
      }).pipe(Effect.scoped),
    60_000
  )
})
