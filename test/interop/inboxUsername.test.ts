// Mailpit's `Username`: the identity a client authenticated as (AUTH) on the message it sent,
// in the list and in the message; empty for a client that did not authenticate.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { builtCommand } from "../utils/command.js"
import { bySubject, listed, message, plain } from "../utils/inboxMail.js"
import { inboxProcess } from "../utils/inboxProcess.js"
import * as RawClient from "../utils/rawClient.js"

const main = builtCommand()

// one message, after AUTH PLAIN when `user` is given: every reply a success
const send = (port: number, subject: string, user?: string) =>
  Effect.map(
    RawClient.transaction(port, {
      auth: user === undefined ? undefined : { user, password: "secret" },
      to: "bob@example.net",
      data: plain({ from: "app@example.com", to: "bob@example.net", subject, body: "hello" })
    }),
    (said) => {
      expect(said).toHaveLength(user === undefined ? 4 : 5)
      for (const status of said) expect(status).toMatch(/^(235|250|354) /)
    }
  )

describe("the inbox's Username", () => {
  it.live("is the AUTH identity of the session that sent the message; empty without AUTH", () =>
    Effect.gen(function* () {
      const users = yield* RawClient.usersFile("ann@example.com:secret\n")
      const inbox = yield* inboxProcess(main, ["--auth-users", users, "--auth-insecure"])
      yield* send(inbox.port, "signed in", "ann@example.com")
      yield* send(inbox.port, "anonymous")
      const page = yield* listed(inbox, 2)
      expect(bySubject(page, "signed in").Username).toBe("ann@example.com")
      expect(bySubject(page, "anonymous").Username).toBe("")
      const whole = yield* message(inbox, bySubject(page, "signed in").ID)
      expect(whole.Username).toBe("ann@example.com")
    }).pipe(Effect.scoped)
  )
})
