// examples/mailing-list over real sockets: Python's smtplib talks to the example's server, whose
// upstream is our own server with the Recording handler.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, References } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as Lists from "../../examples/mailing-list/Lists.js"
import * as Server from "../../examples/mailing-list/Server.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { pythonOk } from "../utils/process.js"
import { peelReceived } from "../utils/relay.js"
import { text, withServer } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"

const devMembers = ["ann@a.example", "bob@b.example", "carol@c.example"]

const listsJson = JSON.stringify({
  domain: "lists.example",
  lists: [
    { name: "dev", description: "Development talk", members: devMembers },
    { name: "ops", description: "Operations", members: ["ann@a.example", "dave@d.example"], membersOnly: true }
  ]
})

const devHeaders =
  "List-Id: <dev.lists.example>\r\n" +
  "List-Post: <mailto:dev@lists.example>\r\n" +
  "List-Unsubscribe: <mailto:dev-request@lists.example?subject=unsubscribe>\r\n" +
  "Precedence: list\r\n"

// the upstream, and the example's server in front of it, for one test
const setup = Effect.gen(function* () {
  const upstream = yield* withServer()
  const lists = yield* Lists.decode(listsJson)
  const context = yield* Layer.build(
    Server.layer({
      lists,
      upstream: { host: upstream.host, port: upstream.port },
      server: { listen: "127.0.0.1:0", hostname: "lists.test", shutdownGrace: "1 second" }
    })
  )
  const port = Context.get(context, SmtpServer).addresses[0]!.port
  // a Python script that starts with `s`, an smtplib client connected to the example's server
  const smtp = (script: string) =>
    pythonOk(`import smtplib\ns = smtplib.SMTP("127.0.0.1", ${port})\n${script.trim()}\ns.quit()\n`)
  // sends `message` (a Python str literal is a JSON string) and prints the refused recipients
  const sendmail = (from: string, to: ReadonlyArray<string>, message: string) =>
    smtp(`print(s.sendmail(${JSON.stringify(from)}, ${JSON.stringify(to)}, ${JSON.stringify(message)}))`)
  // MAIL, then one RCPT: prints its code and text
  const rcpt = (from: string, to: string) =>
    smtp(
      `s.ehlo()\ns.mail(${JSON.stringify(from)})\ncode, text = s.rcpt(${JSON.stringify(to)})\nprint(code, text.decode())`
    )
  return { upstream, sendmail, rcpt }
})

const quietly = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, References.MinimumLogLevel, "Warn")

const message = (subject: string, extra = "") =>
  `From: someone\r\nSubject: ${subject}\r\nMessage-ID: <m1@x.example>\r\n${extra}\r\nHello list.\r\n.leading dot\r\n`

describe.skipIf(skipWithout("python3"))("examples/mailing-list", () => {
  it.live("a post from a member goes upstream once, to every member, from dev-bounces, headers first", () =>
    Effect.gen(function* () {
      const { upstream, sendmail } = yield* setup
      const original = message("post")
      expect(yield* sendmail("ann@a.example", ["dev@lists.example"], original)).toBe("{}\n")
      const deliveries = yield* upstream.deliveries
      expect(deliveries).toHaveLength(1)
      const [delivery] = deliveries
      assert(delivery !== undefined)
      expect(delivery.mailFrom).toBe("dev-bounces@lists.example")
      expect(delivery.rcptTos).toEqual(devMembers)
      // the list's headers on top of the message it took in: this hop's Received: field, then the post
      const posted = text(delivery.data)
      expect(posted.startsWith(devHeaders)).toBe(true)
      const peeled = peelReceived(posted.slice(devHeaders.length))
      expect(peeled.received).toHaveLength(1)
      expect(peeled.rest).toBe(original)
    }).pipe(quietly)
  )

  it.live("a members-only list refuses other senders at RCPT with 550 5.7.1, and takes members", () =>
    Effect.gen(function* () {
      const { upstream, rcpt, sendmail } = yield* setup
      expect(yield* rcpt("zed@z.example", "ops@lists.example")).toMatch(/^550 5\.7\.1 /)
      expect(yield* upstream.deliveries).toHaveLength(0)
      expect(yield* sendmail("DAVE@d.example", ["ops@lists.example"], message("ops"))).toBe("{}\n")
      const deliveries = yield* upstream.deliveries
      expect(deliveries.map((d) => [d.mailFrom, d.rcptTos])).toEqual([
        ["ops-bounces@lists.example", ["ann@a.example", "dave@d.example"]]
      ])
    }).pipe(quietly)
  )

  it.live("an unknown list is 550 5.1.1; a post from <> is 550 5.7.1", () =>
    Effect.gen(function* () {
      const { upstream, rcpt } = yield* setup
      expect(yield* rcpt("ann@a.example", "nope@lists.example")).toMatch(/^550 5\.1\.1 /)
      expect(yield* rcpt("ann@a.example", "nope-request@lists.example")).toMatch(/^550 5\.1\.1 /)
      expect(yield* rcpt("", "dev@lists.example")).toMatch(/^550 5\.7\.1 /)
      expect(yield* upstream.deliveries).toHaveLength(0)
    }).pipe(quietly)
  )

  it.live("dev-request@ gets an automatic reply to the sender, from <>, marked Auto-Submitted", () =>
    Effect.gen(function* () {
      const { upstream, sendmail } = yield* setup
      expect(yield* sendmail("zed@z.example", ["dev-request@lists.example"], message("help"))).toBe("{}\n")
      const deliveries = yield* upstream.deliveries
      expect(deliveries).toHaveLength(1)
      const [reply] = deliveries
      assert(reply !== undefined)
      expect(reply.mailFrom).toBe("")
      expect(reply.rcptTos).toEqual(["zed@z.example"])
      const content = text(reply.data)
      const end = content.indexOf("\r\n\r\n")
      const [head, body] = [content.slice(0, end), content.slice(end + 4)]
      expect(head.split("\r\n")).toEqual(
        expect.arrayContaining([
          "From: <dev-request@lists.example>",
          "To: <zed@z.example>",
          "Subject: About the dev list",
          "In-Reply-To: <m1@x.example>",
          "Auto-Submitted: auto-replied"
        ])
      )
      expect(body).toContain("dev@lists.example: Development talk")
      expect(body).toContain("To post to the list, write to dev@lists.example.")
    }).pipe(quietly)
  )

  it.live("no automatic reply to <> or to an automatic message; Auto-Submitted: no is answered", () =>
    Effect.gen(function* () {
      const { upstream, sendmail } = yield* setup
      const to = ["dev-request@lists.example"]
      expect(yield* sendmail("", to, message("bounce"))).toBe("{}\n")
      expect(yield* sendmail("zed@z.example", to, message("vacation", "Auto-Submitted: auto-replied\r\n"))).toBe("{}\n")
      expect(
        yield* sendmail("zed@z.example", to, message("folded", "Auto-Submitted:\r\n auto-generated (cron)\r\n"))
      ).toBe("{}\n")
      expect(yield* upstream.deliveries).toHaveLength(0)
      expect(yield* sendmail("zed@z.example", to, message("human", "Auto-Submitted: no\r\n"))).toBe("{}\n")
      expect((yield* upstream.deliveries).map((d) => d.rcptTos)).toEqual([["zed@z.example"]])
    }).pipe(quietly)
  )

  it.live("a message to a request address over 64 KiB is 552", () =>
    Effect.gen(function* () {
      const { upstream, sendmail } = yield* setup
      const big = message("big", `X-Filler: ${"x".repeat(70 * 1024)}\r\n`)
      const output = yield* sendmail("zed@z.example", ["dev-request@lists.example"], big).pipe(
        Effect.catch((error) => Effect.succeed(error.message))
      )
      expect(output).toMatch(/SMTPDataError: \(552, b'5\.3\.4 /)
      expect(yield* upstream.deliveries).toHaveLength(0)
    }).pipe(quietly)
  )

  it.live("a list and an address elsewhere in one message: the expansion and the relay both go upstream", () =>
    Effect.gen(function* () {
      const { upstream, sendmail } = yield* setup
      const original = message("mixed")
      expect(yield* sendmail("ann@a.example", ["dev@lists.example", "someone@elsewhere.example"], original)).toBe(
        "{}\n"
      )
      const deliveries = yield* upstream.deliveries
      expect(deliveries).toHaveLength(2)
      const list = deliveries.find((d) => d.mailFrom === "dev-bounces@lists.example")
      const relayed = deliveries.find((d) => d.mailFrom === "ann@a.example")
      assert(list !== undefined && relayed !== undefined)
      expect(list.rcptTos).toEqual(devMembers)
      // the list's headers on top of the message it took in: this hop's Received: field, then the post
      const posted = text(list.data)
      expect(posted.startsWith(devHeaders)).toBe(true)
      const peeled = peelReceived(posted.slice(devHeaders.length))
      expect(peeled.received).toHaveLength(1)
      expect(peeled.rest).toBe(original)
      expect(relayed.rcptTos).toEqual(["someone@elsewhere.example"])
      expect(peelReceived(text(relayed.data)).rest).toBe("X-Peer: 127.0.0.1\r\n" + original)
    }).pipe(quietly)
  )

  it.live("two lists and a request address in one message: one leg each", () =>
    Effect.gen(function* () {
      const { upstream, sendmail } = yield* setup
      const to = ["dev@lists.example", "ops@lists.example", "dev-request@lists.example"]
      expect(yield* sendmail("ann@a.example", to, message("three"))).toBe("{}\n")
      const deliveries = yield* upstream.deliveries
      expect(deliveries.map((d) => [d.mailFrom, d.rcptTos]).sort()).toEqual([
        ["", ["ann@a.example"]],
        ["dev-bounces@lists.example", devMembers],
        ["ops-bounces@lists.example", ["ann@a.example", "dave@d.example"]]
      ])
    }).pipe(quietly)
  )
})

describe("examples/mailing-list Lists.load", () => {
  const loadText = (json: string) =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const path = `${dir}/lists.json`
      yield* fs.writeFileString(path, json)
      return yield* Effect.flip(Lists.load(path))
    }).pipe(Effect.provide(NodeFileSystem.layer))

  it.live("loads the sample file", () =>
    Effect.gen(function* () {
      const lists = yield* Lists.load("examples/mailing-list/lists.json")
      expect(lists.domain).toBe("lists.example")
      expect(lists.lists.map((list) => [list.name, list.membersOnly])).toEqual([
        ["dev", false],
        ["ops", true]
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.live("a bad address fails with a message naming it and where it is", () =>
    Effect.gen(function* () {
      const error = yield* loadText(
        JSON.stringify({ domain: "lists.example", lists: [{ name: "dev", description: "", members: ["ann@", "b@x"] }] })
      )
      expect(error._tag).toBe("ListsError")
      expect(error.message).toContain("lists.json")
      expect(error.message).toContain('not an address: "ann@"')
      expect(error.message).toMatch(/\["members"\][\s\S]*\[0\]/)
    })
  )

  it.live("a duplicate list, a misspelt key, a reserved name or bad JSON fail, each with its own message", () =>
    Effect.gen(function* () {
      const list = (name: string, extra: object = {}) => ({ name, description: "", members: ["a@x.example"], ...extra })
      const duplicate = yield* loadText(JSON.stringify({ domain: "lists.example", lists: [list("dev"), list("DEV")] }))
      expect(duplicate.message).toContain("duplicate list name: DEV")
      const misspelt = yield* loadText(
        JSON.stringify({ domain: "lists.example", lists: [list("dev", { membersonly: true })] })
      )
      expect(misspelt.message).toContain('["membersonly"]')
      expect(misspelt.message).toContain("is unexpected")
      const reserved = yield* loadText(JSON.stringify({ domain: "lists.example", lists: [list("dev-request")] }))
      expect(reserved.message).toContain("cannot end in -request or -bounces")
      const loop = yield* loadText(
        JSON.stringify({
          domain: "lists.example",
          lists: [list("dev"), list("ops", { members: ["DEV@lists.example"] })]
        })
      )
      expect(loop.message).toContain("a list address cannot be a member: DEV@lists.example")
      const json = yield* loadText(`{"domain": "lists.example",`)
      expect(json.message).toContain("JSON")
      const missing = yield* Effect.flip(Lists.load("/nonexistent/lists.json")).pipe(
        Effect.provide(NodeFileSystem.layer)
      )
      expect(missing.message).toContain("/nonexistent/lists.json")
    })
  )
})
