// Releasing a captured message (Mailpit's message relay) with --release-to: our debugging server
// as the release server prints what it gets, and the message arrives there byte for byte, from
// the sender it came with, to the recipients the API named; recipients outside
// --release-allowed, a bad body, an unknown message and a server that is down are 4xx JSON
// errors; without --release-to releasing is off and /webui says so.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MailpitClient } from "mailpit-api"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"
import { expectError, listed, plain, raw, sendRaw } from "../utils/inboxMail.js"
import { inboxProcess, request } from "../utils/inboxProcess.js"
import { freePort } from "../utils/upstreams.js"

const main = builtCommand()
const { start } = CliProcess.runner(main)
const call = <A>(f: () => Promise<A>) => Effect.promise(f)

// the debugging server, one JSON line per message, stopped with the scope
const releaseServer = Effect.acquireRelease(
  Effect.promise(() => start(["--format", "json", "127.0.0.1:0"])),
  (server) => Effect.promise(() => server.stop("SIGTERM"))
)

const printed = (server: CliProcess.Running, n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200; i++) {
      const lines = server
        .stdout()
        .split("\n")
        .filter((line) => line !== "")
      if (lines.length >= n) return lines.map((line) => JSON.parse(line))
      yield* Effect.sleep("50 millis")
    }
    throw new Error(`the release server printed ${server.stdout()}`)
  })

const releaseOf = (web: string, id: string, json: unknown) =>
  request(web, `/api/v1/message/${id}/release`, { method: "POST", json })

describe("releasing a message (--release-to)", () => {
  it.live(
    "sends it on as it is, to the recipients named; refuses what --release-allowed does not allow",
    () =>
      Effect.gen(function* () {
        const upstream = yield* releaseServer
        const inbox = yield* inboxProcess(main, [
          "--release-to",
          `127.0.0.1:${upstream.port}`,
          "--release-allowed",
          "@example\\.net$"
        ])
        const mailpit = new MailpitClient(inbox.web)
        expect((yield* call(() => mailpit.getConfiguration())).MessageRelay).toMatchObject({
          Enabled: true,
          SMTPServer: `127.0.0.1:${upstream.port}`,
          AllowedRecipients: "@example\\.net$"
        })
        yield* sendRaw(
          inbox,
          plain({ from: "app@example.com", to: "test@example.org", subject: "Release me", body: "hi" })
        )
        const [summary] = (yield* listed(inbox, 1)).messages
        const source = yield* raw(inbox, summary!.ID)

        expect(
          yield* call(() => mailpit.releaseMessage("latest", { To: ["ann@example.net", "bob@EXAMPLE.net"] }))
        ).toBe("ok")
        const [arrived] = yield* printed(upstream, 1)
        // from the envelope's sender (sendRaw's), to those named, the source as stored
        expect(arrived).toMatchObject({
          mail_from: "sender@example.com",
          rcpt_to: ["ann@example.net", "bob@EXAMPLE.net"]
        })
        expect(Buffer.from(arrived.content_b64, "base64")).toEqual(Buffer.from(source))

        // refused here, never sent
        expectError(yield* releaseOf(inbox.web, summary!.ID, { To: ["eve@example.org"] }), 400)
        expectError(yield* releaseOf(inbox.web, summary!.ID, { To: [] }), 400)
        expectError(yield* releaseOf(inbox.web, summary!.ID, { To: "ann@example.net" }), 400)
        expectError(yield* releaseOf(inbox.web, summary!.ID, { To: ["not an address"] }), 400)
        expectError(yield* releaseOf(inbox.web, "no-such-id", { To: ["ann@example.net"] }), 404)
        expect(yield* printed(upstream, 1)).toHaveLength(1)

        // --release-return-path: the envelope sender of every release
        const other = yield* inboxProcess(main, [
          "--release-to",
          `127.0.0.1:${upstream.port}`,
          "--release-return-path",
          "bounces@example.com"
        ])
        yield* sendRaw(other, plain({ from: "app@example.com", to: "t@example.org", subject: "Again", body: "hi" }))
        const [again] = (yield* listed(other, 1)).messages
        expect((yield* releaseOf(other.web, again!.ID, { To: ["eve@example.org"] })).status).toBe(200)
        expect((yield* printed(upstream, 2))[1]).toMatchObject({
          mail_from: "bounces@example.com",
          rcpt_to: ["eve@example.org"]
        })
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("a release server that is down: 400 with the reason, no system text", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const inbox = yield* inboxProcess(main, ["--release-to", `127.0.0.1:${port}`])
      yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.org", subject: "Down", body: "x" }))
      const [summary] = (yield* listed(inbox, 1)).messages
      const answer = yield* releaseOf(inbox.web, summary!.ID, { To: ["c@example.net"] })
      expectError(answer, 400)
      expect(answer.json.Error).toBe("the release server cannot be reached (connect)")
    }).pipe(Effect.scoped)
  )

  it.live("without --release-to: off, and /webui says so", () =>
    Effect.gen(function* () {
      const inbox = yield* inboxProcess(main)
      const mailpit = new MailpitClient(inbox.web)
      expect((yield* call(() => mailpit.getConfiguration())).MessageRelay.Enabled).toBe(false)
      yield* sendRaw(inbox, plain({ from: "a@example.com", to: "b@example.org", subject: "Off", body: "x" }))
      const [summary] = (yield* listed(inbox, 1)).messages
      expectError(yield* releaseOf(inbox.web, summary!.ID, { To: ["c@example.net"] }), 400)
    }).pipe(Effect.scoped)
  )
})
