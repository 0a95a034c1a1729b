// The sessions' spans (ServerConfig.tracing): on the tracer in the server's context, a span per
// session, per transaction and per call of a handler's hook (under the transaction), with their
// attributes; none at all when tracing is off.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Tracer } from "effect"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import { SmtpTest } from "../../src/testing/index.js"

interface Made {
  readonly name: string
  readonly parent: string | undefined
  readonly attributes: ReadonlyMap<string, unknown>
  ended: boolean
}

// the native tracer's spans, each also noted here
const recording = () => {
  const made: Array<Made> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = Tracer.nativeTracer.span(options)
      const note: Made = {
        name: options.name,
        parent: options.parent._tag === "Some" ? (options.parent.value as Tracer.Span).name : undefined,
        attributes: span.attributes,
        ended: false
      }
      made.push(note)
      const end = span.end.bind(span)
      span.end = (time, exit) => {
        note.ended = true
        end(time, exit)
      }
      return span
    }
  })
  return { made, layer: Layer.succeed(Tracer.Tracer, tracer) }
}

const handler = MessageHandler.make({
  rcpt: () => Effect.void,
  data: (_, message) => Effect.asVoid(Message.bytes(message))
})

const oneMessage = (tracing: boolean) =>
  Effect.gen(function* () {
    const server = yield* SmtpTest.server({ tracing })
    const client = yield* server.connect
    yield* client.reply
    yield* SmtpTest.command(client, "EHLO client.test")
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
    yield* client.replies(4)
    yield* client.send("Subject: traced\r\n\r\nhi\r\n.\r\n")
    expect((yield* client.reply).code).toBe(250)
    yield* SmtpTest.command(client, "QUIT")
    yield* client.awaitClose
  }).pipe(Effect.scoped, Effect.provideService(MessageHandler.MessageHandler, handler))

describe("the sessions' spans", () => {
  it.effect("a session, its transaction and the hooks' calls under it, with their attributes", () => {
    const { layer, made } = recording()
    return Effect.gen(function* () {
      yield* oneMessage(true)
      const names = made.map((span) => `${span.name} < ${span.parent ?? "-"}`)
      expect(names).toEqual([
        "smtp.session < -",
        "smtp.transaction < smtp.session",
        "smtp.handler.rcpt < smtp.transaction",
        "smtp.handler.rcpt < smtp.transaction",
        "smtp.handler.data < smtp.transaction"
      ])
      expect(made.every((span) => span.ended)).toBe(true)
      const session = made[0]!.attributes
      expect(session.get("client.address")).toBe("127.0.0.1")
      expect(session.get("smtp.helo")).toBe("client.test")
      expect(session.get("tls")).toBe(false)
      const transaction = made[1]!.attributes
      expect(transaction.get("smtp.recipients")).toBe(2)
      expect(transaction.get("smtp.reply.code")).toBe(250)
      expect(transaction.get("smtp.message.size")).toBe(23) // "Subject: traced\r\n\r\nhi\r\n"
    }).pipe(Effect.provide(layer))
  })

  it.effect("the connect hook's call under the session", () => {
    const { layer, made } = recording()
    return Effect.gen(function* () {
      const server = yield* SmtpTest.server({ tracing: true }).pipe(
        Effect.provideService(MessageHandler.MessageHandler, MessageHandler.make({ connect: () => Effect.void }))
      )
      const client = yield* server.connect
      expect((yield* client.reply).code).toBe(220)
      yield* SmtpTest.command(client, "QUIT")
      yield* client.awaitClose
      expect(made.map((span) => `${span.name} < ${span.parent ?? "-"}`)).toEqual([
        "smtp.session < -",
        "smtp.handler.connect < smtp.session"
      ])
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.effect("none at all when tracing is off (the default)", () => {
    const { layer, made } = recording()
    return Effect.gen(function* () {
      yield* oneMessage(false)
      expect(made.filter((span) => span.name.startsWith("smtp."))).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})
