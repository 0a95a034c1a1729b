// The README's examples, kept compiling and working: if one of these changes, change the README.
import { expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schedule, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import {
  Debugging,
  Maildir,
  MessageHandler,
  NodeSmtpClient,
  NodeSmtpServer,
  ProcessMessage,
  Recording,
  Relay,
  Reply,
  Router,
  Sink,
  SmtpClient,
  SmtpError,
  SmtpServer,
  SmtpSession
} from "../src/index.js"
import * as NodeMailQueue from "../src/node/NodeMailQueue.js"
import { Delivery } from "../src/index.js"
import { SmtpTest } from "../src/testing/index.js"
import { peelReceived } from "./utils/relay.js"
import { withServer } from "./utils/server.js"

it.effect("the ten-line server: refuses foreign recipients and streams the body", () => {
  const seen: Array<number> = []
  const Handler = MessageHandler.layer({
    rcpt: (_session, recipient) =>
      recipient.address.endsWith("@example.com") ? Effect.void : Effect.fail(new SmtpError.RelayDenied()),
    data: (_session, message) =>
      Stream.runForEach(message.body, (chunk) =>
        Effect.sync(() => seen.push(chunk.length)).pipe(
          Effect.andThen(Effect.log(`${chunk.length} bytes for ${message.envelope.recipients.length} recipients`))
        )
      )
  })
  return Effect.gen(function* () {
    const { addresses } = yield* SmtpServer.SmtpServer
    expect(addresses[0]!.port).toBeGreaterThan(0)
    const client = yield* (yield* SmtpTest.server()).connect
    yield* client.reply
    yield* SmtpTest.command(client, "EHLO me")
    yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@elsewhere.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    const replies = yield* client.replies(4)
    expect(replies.map((r) => r.code)).toEqual([250, 550, 250, 354])
    yield* client.send("hello\r\n.\r\n")
    expect((yield* client.reply).code).toBe(250)
    expect(seen).toEqual([7])
  }).pipe(Effect.provide(NodeSmtpServer.layer({ listen: ["127.0.0.1:0"] })), Effect.provide(Handler))
})

it.effect("ProcessMessage: the handler's reply replaces 250", () => {
  const Handler = ProcessMessage.layer((delivery) =>
    Effect.log(`from ${delivery.mailFrom} to ${delivery.rcptTos.join(", ")}: ${delivery.data.length} bytes`).pipe(
      Effect.as(Reply.make(250, "2.0.0", "Thanks"))
    )
  )
  return Effect.gen(function* () {
    const client = yield* (yield* SmtpTest.server()).connect
    yield* client.reply
    yield* SmtpTest.command(client, "EHLO me")
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    yield* client.replies(3)
    yield* client.send("hi\r\n.\r\n")
    expect((yield* client.reply).lines).toEqual(["Thanks"])
  }).pipe(Effect.provide(Handler))
})

it.effect("your own commands", () =>
  Effect.gen(function* () {
    const server = yield* SmtpTest.server({
      commands: {
        XHELLO: (session, argument) =>
          Effect.succeed(Reply.make(250, "2.0.0", `hello ${argument}, ${session.peer.address}`))
      }
    })
    const client = yield* server.connect
    yield* client.reply
    yield* client.send("XHELLO world\r\n")
    expect((yield* client.reply).lines).toEqual(["hello world, 127.0.0.1"])
  }).pipe(Effect.provide(Recording.layer))
)

it.effect("testing your code: stores the message", () =>
  Effect.gen(function* () {
    const client = yield* (yield* SmtpTest.server()).connect
    yield* client.reply // 220
    yield* SmtpTest.command(client, "EHLO me") // pipelining only after EHLO's reply
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    yield* client.replies(3) // 250, 250, 354: the body only after 354
    yield* client.send("Subject: test\r\n\r\nhi\r\n.\r\n")
    expect((yield* client.reply).code).toBe(250)
    expect(yield* Recording.deliveries).toHaveLength(1)
  }).pipe(Effect.provide(Recording.layer))
)

it.effect("the relay, the router and the client: the README's shapes, end to end", () =>
  Effect.gen(function* () {
    const upstream = yield* withServer()
    const root = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-readme-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const lists = new Set(["dev@example.org", "ops@example.org"])
    const Routes = Router.layer({
      routes: [
        Router.address("postmaster@example.com", Debugging.layer({ format: "json" })),
        Router.domain("example.com", Maildir.layerNode({ root })),
        Router.localPart(/^no-?reply$/, Sink.layer, { domain: "example.org" }),
        Router.when((recipient) => Effect.succeed(lists.has(recipient.toLowerCase())), Sink.layer)
      ],
      fallback: Relay.layer({ upstream: { host: upstream.host, port: upstream.port, startTls: "off" } })
    }).pipe(Layer.provide(NodeSmtpClient.layer))
    const proxy = yield* Layer.build(NodeSmtpServer.layer({ listen: ["127.0.0.1:0"] }).pipe(Layer.provide(Routes)))
    const { addresses } = Context.get(proxy, SmtpServer.SmtpServer)

    // the client example, pointed at the router
    const result = yield* Effect.gen(function* () {
      const client = yield* SmtpClient.SmtpClient
      const connection = yield* client.connect({ host: "127.0.0.1", port: addresses[0]!.port, startTls: "off" })
      return yield* connection.send(
        {
          mailFrom: "me@example.com",
          mailParameters: [],
          recipients: ["bob@example.com", "noreply@example.org", "DEV@example.org", "you@example.net"].map(
            (address) => ({ address, parameters: [] })
          )
        },
        Stream.make(new TextEncoder().encode("Subject: hi\r\n\r\nHello\r\n"))
      )
    }).pipe(Effect.scoped, Effect.provide(NodeSmtpClient.layer))

    expect(result.reply.code).toBe(250)
    expect(result.refused).toEqual([])
    expect(Fs.readdirSync(Path.join(root, "new"))).toHaveLength(1)
    const [relayed] = yield* upstream.deliveries
    expect(relayed?.rcptTos).toEqual(["you@example.net"])
    // the Router's Received: field, then what the relay route adds, then the message
    const peeled = peelReceived(new TextDecoder().decode(relayed?.data))
    expect(peeled.received).toHaveLength(1)
    expect(peeled.rest).toBe("X-Peer: 127.0.0.1\r\nSubject: hi\r\n\r\nHello\r\n")
  })
)

it.effect("a session over any byte stream: SmtpSession.run", () =>
  Effect.gen(function* () {
    // one chunk a command: EHLO ends a group (RFC 2920), a QUIT in the same chunk would be out of turn
    const input = Stream.make("EHLO me\r\n", "QUIT\r\n").pipe(Stream.map((line) => new TextEncoder().encode(line)))
    const replies = SmtpSession.run(input, { hostname: "mx.example" })
    const chunks = yield* Stream.runCollect(replies).pipe(Effect.provide(Sink.layer))
    const text = chunks.map((chunk) => new TextDecoder().decode(chunk)).join("")
    expect(text).toMatch(
      /^220 mx\.example ESMTP[^\r]*\r\n250-mx\.example\r\n(?:250-[^\r]*\r\n)*250 [^\r]*\r\n221 2\.0\.0 [^\r]*\r\n$/
    )
  })
)

it.effect("a handler with a session of its own: a finalizer per session, a helo hook", () => {
  const logged: Array<string> = []
  const Handler = MessageHandler.layer({
    session: (info) =>
      Effect.gen(function* () {
        let messages = 0
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => void logged.push(`${info.peer.address}: ${messages} message(s)`))
        )
        return {
          helo: (_session, greeting) =>
            greeting.name === "localhost"
              ? Effect.fail(new SmtpError.RelayDenied({ text: "Who are you?" }))
              : Effect.void,
          data: () => Effect.sync(() => void messages++)
        }
      })
  })
  return Effect.gen(function* () {
    const client = yield* (yield* SmtpTest.server()).connect
    yield* client.reply
    expect((yield* SmtpTest.command(client, "EHLO localhost")).code).toBe(550)
    expect((yield* SmtpTest.command(client, "EHLO me.example")).code).toBe(250)
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    yield* client.replies(3)
    yield* client.send("hi\r\n.\r\nQUIT\r\n")
    expect((yield* client.replies(2)).map((r) => r.code)).toEqual([250, 221])
    yield* client.awaitClose
    expect(logged).toEqual(["127.0.0.1: 1 message(s)"])
  }).pipe(Effect.provide(Handler))
})

it.live("the mail queue: the README's server stores, then delivers", () =>
  Effect.gen(function* () {
    const target = yield* withServer()
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-readme-queue-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    // the README's shape, with a local upstream, a temporary queue and a quick poll
    const upstream = { host: target.host, port: target.port, startTls: "off" as const }
    const Queue = NodeMailQueue.layer(Path.join(dir, "queue.db"))
    const Server = NodeSmtpServer.layer({ listen: ["127.0.0.1:0"] }).pipe(
      Layer.provide(Relay.layer({ upstream, mode: "queue" })),
      Layer.provide(
        Delivery.layer({
          routes: { [Relay.routeOf(upstream)]: upstream },
          hostname: "mx.example.com",
          pollInterval: "50 millis"
        })
      ),
      Layer.provide(Layer.merge(Queue, NodeSmtpClient.layer))
    )
    const { addresses } = Context.get(yield* Layer.build(Server), SmtpServer.SmtpServer)
    const result = yield* Effect.gen(function* () {
      const client = yield* SmtpClient.SmtpClient
      const connection = yield* client.connect({ host: "127.0.0.1", port: addresses[0]!.port, startTls: "off" })
      return yield* connection.send(
        {
          mailFrom: "me@example.com",
          mailParameters: [],
          recipients: [{ address: "you@example.org", parameters: [] }]
        },
        Stream.make(new TextEncoder().encode("Subject: queued\r\n\r\nHello\r\n"))
      )
    }).pipe(Effect.scoped, Effect.provide(NodeSmtpClient.layer))
    expect(result.reply.lines[0]).toMatch(/^Ok: queued as [0-9A-Z]+$/)
    const delivered = yield* Effect.gen(function* () {
      const found = yield* target.deliveries
      if (found.length === 0) return yield* Effect.fail("not yet")
      return found
    }).pipe(Effect.retry({ times: 100, schedule: Schedule.spaced("50 millis") }))
    expect(delivered.map((d) => d.rcptTos)).toEqual([["you@example.org"]])
    expect(peelReceived(new TextDecoder().decode(delivered[0]!.data)).rest).toBe(
      "X-Peer: 127.0.0.1\r\nSubject: queued\r\n\r\nHello\r\n"
    )
  }).pipe(Effect.scoped)
)
