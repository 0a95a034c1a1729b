// An in-memory session (SmtpTest) taken to the point a test starts from: greeted with EHLO, or
// with DATA open; and the reply as the "code enhanced" text the tests compare.
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import type * as Reply from "../../src/protocol/Reply.js"
import { SmtpTest } from "../../src/testing/index.js"
import type { TestClient } from "../../src/testing/TestTransport.js"

/** "250 2.1.0", or "250" for a reply without an enhanced code. */
export const code = (reply: Reply.Reply) => `${reply.code}${reply.enhanced === undefined ? "" : ` ${reply.enhanced}`}`

/** Sends a line and returns its reply. */
export const command = SmtpTest.command

/** Connected (from `remote`, if given) and greeted with EHLO. */
export const greeted = (server: SmtpTest.TestServer, remote?: { readonly address: string; readonly port: number }) =>
  Effect.gen(function* () {
    const client = yield* server.connectWith(remote === undefined ? {} : { remote })
    expect((yield* client.reply).code).toBe(220)
    expect((yield* command(client, "EHLO client.test")).code).toBe(250)
    return client
  })

/** MAIL, RCPT and DATA one at a time: the client is ready to send the body. */
export const openData = (client: TestClient) =>
  Effect.gen(function* () {
    expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
    expect(code(yield* command(client, "RCPT TO:<b@example.com>"))).toBe("250 2.1.5")
    expect((yield* command(client, "DATA")).code).toBe(354)
  })
