// Mailpit's SpamAssassin check (GET /api/v1/message/{ID}/sa-check) against a real spamd (Debian's
// package), started on loopback by the test: GTUBE's test string is spam with its rule listed,
// a plain message is not; spamd down is an answer with the reason, not an HTTP error; without
// --enable-spamassassin the check is off.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MailpitClient } from "mailpit-api"
import { builtCommand } from "../utils/command.js"
import { expectError, listed, plain, sendRaw } from "../utils/inboxMail.js"
import { inboxProcess, request } from "../utils/inboxProcess.js"
import { spamd } from "../utils/spamd.js"
import { skipWithout } from "../utils/tools.js"
import { freePort } from "../utils/upstreams.js"

const main = builtCommand()
const call = <A>(f: () => Promise<A>) => Effect.promise(f)

const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

describe.skipIf(skipWithout("spamd"))("the inbox's SpamAssassin check", () => {
  it.live(
    "scores a message with spamd: GTUBE is spam with its rule; a plain message is not",
    () =>
      Effect.gen(function* () {
        const daemon = yield* spamd
        const inbox = yield* inboxProcess(main, ["--enable-spamassassin", `127.0.0.1:${daemon.port}`])
        const mailpit = new MailpitClient(inbox.web)
        expect((yield* call(() => mailpit.getConfiguration())).SpamAssassin).toBe(true)
        yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "spam", body: gtube }))
        const spam = yield* call(() => mailpit.spamAssassinCheck("latest"))
        expect(spam).toMatchObject({ Error: "", IsSpam: true })
        expect(spam.Score).toBeGreaterThanOrEqual(1000)
        expect(spam.Rules).toContainEqual({
          Name: "GTUBE",
          Score: 1000,
          Description: "BODY: Generic Test for Unsolicited Bulk Email"
        })

        yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "Lunch", body: "At noon?" }))
        const page = yield* listed(inbox, 2)
        const ham = yield* call(() => mailpit.spamAssassinCheck(page.messages[0]!.ID))
        expect(ham).toMatchObject({ Error: "", IsSpam: false })
        expect(ham.Score).toBeLessThan(5)
        expect(Array.isArray(ham.Rules)).toBe(true)
        expect((yield* request(inbox.web, "/api/v1/message/no-such-id/sa-check")).status).toBe(404)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("spamd down: the answer says why, with no rules; off without the flag", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const inbox = yield* inboxProcess(main, ["--enable-spamassassin", `127.0.0.1:${port}`])
      yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.net", subject: "x", body: "y" }))
      const answer = yield* request(inbox.web, "/api/v1/message/latest/sa-check")
      expect(answer.status).toBe(200)
      expect(answer.json).toEqual({ Error: "spamd cannot be reached", IsSpam: false, Score: 0, Rules: null })

      const off = yield* inboxProcess(main)
      yield* sendRaw(off, plain({ from: "a@example.com", to: "b@example.net", subject: "x", body: "y" }))
      expectError(yield* request(off.web, "/api/v1/message/latest/sa-check"), 400)
    }).pipe(Effect.scoped)
  )
})
