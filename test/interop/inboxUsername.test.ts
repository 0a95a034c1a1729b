// Mailpit's `Username`: the identity a client authenticated as (AUTH) on the message it sent,
// in the list and in the message; empty for a client that did not authenticate.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { builtCommand } from "../utils/command.js"
import { bySubject, listed, message, plain } from "../utils/inboxMail.js"
import { inboxProcess } from "../utils/inboxProcess.js"
import * as RawClient from "../utils/rawClient.js"

const main = builtCommand()

const usersFile = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-username-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
).pipe(
  Effect.map((dir) => {
    Fs.writeFileSync(Path.join(dir, "users"), "ann@example.com:secret\n")
    return Path.join(dir, "users")
  })
)

// one message, after AUTH PLAIN when `user` is given
const send = (port: number, subject: string, user?: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* RawClient.connect("127.0.0.1", port)
      yield* client.status
      yield* client.write("EHLO client.example\r\n")
      yield* client.reply
      if (user !== undefined) {
        yield* client.write(`AUTH PLAIN ${Buffer.from(`\0${user}\0secret`).toString("base64")}\r\n`)
        expect(yield* client.status).toMatch(/^235 /)
      }
      const text = plain({ from: "app@example.com", to: "bob@example.net", subject, body: "hello" })
      yield* client.write("MAIL FROM:<app@example.com>\r\n")
      expect(yield* client.status).toMatch(/^250 /)
      yield* client.write("RCPT TO:<bob@example.net>\r\n")
      expect(yield* client.status).toMatch(/^250 /)
      yield* client.write("DATA\r\n")
      expect(yield* client.status).toMatch(/^354 /)
      yield* client.write(`${text}.\r\n`)
      expect(yield* client.status).toMatch(/^250 /)
      yield* client.write("QUIT\r\n")
    })
  )

describe("the inbox's Username", () => {
  it.live("is the AUTH identity of the session that sent the message; empty without AUTH", () =>
    Effect.gen(function* () {
      const users = yield* usersFile
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
