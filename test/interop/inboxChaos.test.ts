// Mailpit's chaos triggers on `--class Inbox --enable-chaos`, set with mailpit-api (Mailpit's
// TypeScript client) and felt by an SMTP client: MAIL, RCPT and AUTH refused with the trigger's
// code at 100 %, passed at 0 %, all off again when a PUT leaves them out. Without
// --enable-chaos the API refuses them with a 400 JSON error, as Mailpit does.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MailpitClient } from "mailpit-api"
import { builtCommand } from "../utils/command.js"
import { expectError, listed } from "../utils/inboxMail.js"
import { inboxProcess } from "../utils/inboxProcess.js"
import * as RawClient from "../utils/rawClient.js"

const main = builtCommand()
const call = <A>(f: () => Promise<A>) => Effect.promise(f)

const ann = { user: "ann", password: "secret" }
// one transaction's replies: AUTH PLAIN as ann (when `auth`), MAIL, RCPT
const transaction = (port: number, auth: boolean) => RawClient.transaction(port, { auth: auth ? ann : undefined })

const request = (web: string, method: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${web}/api/v1/chaos`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    const text = await response.text()
    let json: unknown = undefined
    try {
      json = JSON.parse(text)
    } catch {}
    return { status: response.status, headers: response.headers, text, json }
  })

describe("the inbox's chaos triggers (Mailpit's --enable-chaos)", () => {
  it.live(
    "set through the API, they fail MAIL, RCPT and AUTH with their codes; left out, they are off",
    () =>
      Effect.gen(function* () {
        const users = yield* RawClient.usersFile("ann:secret\n")
        const inbox = yield* inboxProcess(main, ["--enable-chaos", "--auth-users", users, "--auth-insecure"])
        const mailpit = new MailpitClient(inbox.web)
        expect((yield* call(() => mailpit.getConfiguration())).ChaosEnabled).toBe(true)
        const off = { ErrorCode: 451, Probability: 0 }
        expect(yield* call(() => mailpit.getChaosTriggers())).toEqual({
          Sender: off,
          Recipient: off,
          Authentication: off
        })
        expect(yield* transaction(inbox.port, true)).toEqual([
          "235 2.7.0 Authentication successful",
          expect.stringMatching(/^250 /),
          expect.stringMatching(/^250 /)
        ])

        const sender = { ErrorCode: 451, Probability: 100 }
        expect(yield* call(() => mailpit.setChaosTriggers({ Sender: sender }))).toEqual({
          Sender: sender,
          Recipient: off,
          Authentication: off
        })
        const [, mail] = yield* transaction(inbox.port, true)
        expect(mail).toMatch(/^451 4\.0\.0 Chaos: /)

        const recipient = { ErrorCode: 550, Probability: 100 }
        const authentication = { ErrorCode: 454, Probability: 100 }
        yield* call(() => mailpit.setChaosTriggers({ Recipient: recipient, Authentication: authentication }))
        expect(yield* transaction(inbox.port, true)).toEqual([
          expect.stringMatching(/^454 4\.0\.0 Chaos: /),
          expect.stringMatching(/^250 /),
          expect.stringMatching(/^550 5\.0\.0 Chaos: /)
        ])

        // a 421 closes the session, as any 421 does
        yield* call(() => mailpit.setChaosTriggers({ Sender: { ErrorCode: 421, Probability: 100 } }))
        yield* Effect.scoped(
          Effect.gen(function* () {
            const client = yield* RawClient.connect("127.0.0.1", inbox.port)
            yield* client.status
            yield* client.write("EHLO client.example\r\n")
            yield* client.reply
            yield* client.write("MAIL FROM:<app@example.com>\r\n")
            expect(yield* client.status).toMatch(/^421 4\.0\.0 Chaos: /)
            yield* client.closed
          })
        )

        // all off again: a message goes through
        expect(yield* call(() => mailpit.setChaosTriggers())).toEqual({
          Sender: off,
          Recipient: off,
          Authentication: off
        })
        const [, rcpt] = yield* transaction(inbox.port, false)
        expect(rcpt).toMatch(/^250 /)

        // out of range, or not a trigger: 400 JSON errors, the triggers unchanged
        expectError(yield* request(inbox.web, "PUT", { Sender: { ErrorCode: 250, Probability: 10 } }), 400)
        expectError(yield* request(inbox.web, "PUT", { Sender: { ErrorCode: 451, Probability: 101 } }), 400)
        expectError(yield* request(inbox.web, "PUT", { Nobody: { ErrorCode: 451, Probability: 1 } }), 400)
        expectError(yield* request(inbox.web, "PUT", [1, 2]), 400)
        expect((yield* request(inbox.web, "GET")).json).toEqual({ Sender: off, Recipient: off, Authentication: off })
        // keys in any case, as Mailpit's decoder takes them
        const lower = yield* request(inbox.web, "PUT", { sender: { errorcode: 452, probability: 0 } })
        expect(lower.json).toEqual({ Sender: { ErrorCode: 452, Probability: 0 }, Recipient: off, Authentication: off })
        expect(yield* listed(inbox, 0)).toBeDefined()
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("without --enable-chaos: no triggers, the API says so with 400", () =>
    Effect.gen(function* () {
      const inbox = yield* inboxProcess(main)
      const mailpit = new MailpitClient(inbox.web)
      expect((yield* call(() => mailpit.getConfiguration())).ChaosEnabled).toBe(false)
      expectError(yield* request(inbox.web, "GET"), 400)
      expectError(yield* request(inbox.web, "PUT", { Sender: { ErrorCode: 451, Probability: 100 } }), 400)
      const [mail] = yield* transaction(inbox.port, false)
      expect(mail).toMatch(/^250 /)
    }).pipe(Effect.scoped)
  )
})
