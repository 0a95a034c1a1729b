// The inbox as an Effect app's test uses it: the SMTP server with the Inbox handler and the web
// API in a Layer, nodemailer sending as the code under test would, and InboxClient waiting for
// the message, reading it back, sending through the API and deleting.
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import nodemailer from "nodemailer"
import * as InboxClient from "../../src/inbox/InboxClient.js"
import * as InboxHandler from "../../src/inbox/InboxHandler.js"
import * as NodeInbox from "../../src/node/NodeInbox.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"

// the SMTP port and the API's URL of an inbox started in the test's scope
const started = Effect.gen(function* () {
  const url = yield* Deferred.make<string>()
  const inbox = NodeInbox.layer()
  const web = NodeInbox.web({ listen: "127.0.0.1:0", onListening: (u) => Deferred.succeed(url, u).pipe(Effect.asVoid) })
  const server = NodeSmtpServer.layer({ listen: ["127.0.0.1:0"] }).pipe(
    Layer.provide(InboxHandler.layer),
    Layer.provideMerge(web),
    Layer.provideMerge(inbox)
  )
  const context = yield* Layer.build(server)
  return { smtp: Context.get(context, SmtpServer).addresses[0]!.port, api: yield* Deferred.await(url) }
})

const withClient = <A, E>(api: string, effect: Effect.Effect<A, E, InboxClient.InboxClient>) =>
  effect.pipe(Effect.provide(InboxClient.layer(api)), Effect.provide(FetchHttpClient.layer))

describe("InboxClient against the inbox in a Layer", () => {
  it.effect("waits for a message sent by nodemailer, reads it, its part and its source, and deletes", () =>
    Effect.gen(function* () {
      const { api, smtp } = yield* started
      yield* withClient(
        api,
        Effect.gen(function* () {
          const inbox = yield* InboxClient.InboxClient
          const transport = nodemailer.createTransport({
            host: "127.0.0.1",
            port: smtp,
            secure: false,
            ignoreTLS: true
          })
          yield* Effect.promise(() =>
            transport.sendMail({
              from: "App <app@example.com>",
              to: "x@example.com",
              subject: "Welcome",
              text: "Hello there",
              html: "<p>Hello <b>there</b></p>",
              attachments: [{ filename: "terms.txt", content: "the terms" }]
            })
          )
          // under @effect/vitest's TestClock: waitFor runs on real time
          const arrived = yield* inbox.waitFor("to:x@example.com subject:welcome", { timeout: "10 seconds" })
          expect(arrived.From).toEqual({ Name: "App", Address: "app@example.com" })
          expect(arrived.Attachments).toBe(1)
          const message = yield* inbox.message(arrived.ID)
          expect(message.Text.trim()).toBe("Hello there")
          expect(message.HTML).toContain("<b>there</b>")
          const part = message.Attachments[0]!
          expect(new TextDecoder().decode(yield* inbox.part(arrived.ID, part.PartID))).toBe("the terms")
          expect(new TextDecoder().decode(yield* inbox.raw(arrived.ID))).toContain("Subject: Welcome")
          expect((yield* inbox.list()).unread).toBe(0)
          yield* inbox.deleteAll
          expect((yield* inbox.list()).total).toBe(0)
        })
      )
    }).pipe(Effect.scoped)
  )

  it.effect("send through the API, then a search that never matches fails after its timeout", () =>
    Effect.gen(function* () {
      const { api } = yield* started
      yield* withClient(
        api,
        Effect.gen(function* () {
          const inbox = yield* InboxClient.InboxClient
          const { ID } = yield* inbox.send({
            From: { Email: "api@example.com", Name: "API" },
            To: [{ Email: "y@example.com" }],
            Subject: "Sent över the API",
            HTML: "<p>hi</p>",
            Attachments: [{ Filename: "a.bin", Content: Buffer.from([0, 1, 2, 255]).toString("base64") }],
            Tags: ["signup"]
          })
          const message = yield* inbox.message(ID)
          expect(message.Subject).toBe("Sent över the API")
          expect(message.Tags).toEqual(["signup"])
          expect([...(yield* inbox.part(ID, message.Attachments[0]!.PartID))]).toEqual([0, 1, 2, 255])
          const missing = yield* Effect.flip(inbox.waitFor("to:nobody@example.com", { timeout: "300 millis" }))
          expect(missing.message).toContain("no message matching")
          const notThere = yield* Effect.flip(inbox.message("NoSuchMessageId"))
          expect(notThere.status).toBe(404)
        })
      )
    }).pipe(Effect.scoped)
  )
})
