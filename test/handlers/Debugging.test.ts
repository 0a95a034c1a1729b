import { describe, expect, it } from "@effect/vitest"
import { Console, Effect, Layer, Stream } from "effect"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Debugging from "../../src/handlers/Debugging.js"
import { pythonOk } from "../utils/process.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import type * as Parameters from "../../src/protocol/Parameters.js"
import type * as Session from "../../src/protocol/Session.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { skipWithout } from "../utils/tools.js"

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))

const envelope = (
  options: {
    readonly mailParameters?: Parameters.Parameters
    readonly mailOptions?: Partial<Parameters.MailOptions>
    readonly recipients?: ReadonlyArray<Session.Recipient>
  } = {}
): Session.Envelope => ({
  mailFrom: "a@example.com",
  mailParameters: options.mailParameters ?? [],
  mailOptions: {
    size: undefined,
    body: undefined,
    smtpUtf8: false,
    ret: undefined,
    envid: undefined,
    ...options.mailOptions
  },
  recipients: options.recipients ?? [
    { address: "b@example.com", parameters: [] },
    { address: "c@example.com", parameters: [] }
  ]
})

const session = (env: Session.Envelope): SessionInfo => ({
  id: "s1",
  peer: { address: "192.0.2.7", port: 40123 },
  local: { address: "192.0.2.25", port: 25 },
  hostname: "mx.example",
  greeting: { name: "client.example", esmtp: true },
  envelope: env,
  secure: false
})

// the chunks split lines (and a CRLF) in odd places, as a socket would
const message = (chunks: ReadonlyArray<string>, env = envelope()): Message.Message => ({
  envelope: env,
  body: Stream.fromIterable(chunks.map(latin1)),
  decodeData: false
})

// a Console whose log calls are kept, one entry per call
const capture = Effect.gen(function* () {
  const logged: Array<string> = []
  const current = yield* Console.Console
  const console: Console.Console = Object.assign(Object.create(current), {
    log: (...args: ReadonlyArray<unknown>) => void logged.push(args.join(" "))
  })
  return { console, logged }
})

const deliver = (options: Debugging.Options, msg: Message.Message) =>
  Effect.gen(function* () {
    const { console, logged } = yield* capture
    const handler = yield* MessageHandler.MessageHandler
    const result = yield* handler.data(session(msg.envelope), msg).pipe(Effect.provideService(Console.Console, console))
    return { logged, result }
  }).pipe(Effect.provide(Debugging.layer(options)))

describe("Debugging text", () => {
  it.effect("prints smtpd's block with X-Peer at the end of the headers", () =>
    Effect.gen(function* () {
      const { logged, result } = yield* deliver(
        {},
        message([
          "From: a@example.com\r\nSubj",
          "ect: caf\xc3\xa9\r",
          "\n\r\nHello\r\n.dot line\r\n\r\nbad \xff byte\r\n"
        ])
      )
      expect(result).toBeUndefined()
      expect(logged).toEqual([
        [
          "---------- MESSAGE FOLLOWS ----------",
          "From: a@example.com",
          "Subject: café",
          "X-Peer: 192.0.2.7",
          "",
          "Hello",
          ".dot line",
          "",
          "bad \ufffd byte",
          "------------ END MESSAGE ------------"
        ].join("\n")
      ])
    })
  )

  it.effect("prints MAIL and RCPT options as Python lists, with smtpd's empty line after RCPT's", () =>
    Effect.gen(function* () {
      const env = envelope({
        mailParameters: [
          { keyword: "SIZE", value: "100" },
          { keyword: "BODY", value: "8BITMIME" }
        ],
        recipients: [
          { address: "b@example.com", parameters: [{ keyword: "NOTIFY", value: "SUCCESS,FAILURE" }] },
          { address: "c@example.com", parameters: [{ keyword: "ORCPT", value: "rfc822;o'brien@example.com" }] }
        ]
      })
      const { logged } = yield* deliver({}, message(["Subject: x\r\n\r\nbody\r\n"], env))
      expect(logged).toEqual([
        [
          "---------- MESSAGE FOLLOWS ----------",
          "mail options: ['SIZE=100', 'BODY=8BITMIME']",
          `rcpt options: ['NOTIFY=SUCCESS,FAILURE', "ORCPT=rfc822;o'brien@example.com"]`,
          "",
          "Subject: x",
          "X-Peer: 192.0.2.7",
          "",
          "body",
          "------------ END MESSAGE ------------"
        ].join("\n")
      ])
    })
  )

  it.effect("prints only the MAIL options line when there are no RCPT options", () =>
    Effect.gen(function* () {
      const env = envelope({ mailParameters: [{ keyword: "SMTPUTF8" }] })
      const { logged } = yield* deliver({}, message(["A: b\r\n\r\nc\r\n"], env))
      expect(logged[0]).toBe(
        "---------- MESSAGE FOLLOWS ----------\nmail options: ['SMTPUTF8']\nA: b\nX-Peer: 192.0.2.7\n\nc\n------------ END MESSAGE ------------"
      )
    })
  )

  it.effect("puts X-Peer after the last line of a message without an empty line", () =>
    Effect.gen(function* () {
      const { logged } = yield* deliver({}, message(["Subject: x\r\nno body here\r\n"]))
      expect(logged).toEqual([
        "---------- MESSAGE FOLLOWS ----------\nSubject: x\nno body here\nX-Peer: 192.0.2.7\n------------ END MESSAGE ------------"
      ])
    })
  )

  it.effect("fails with the body's error and prints nothing", () =>
    Effect.gen(function* () {
      const msg: Message.Message = {
        envelope: envelope(),
        body: Stream.concat(
          Stream.make(latin1("Subject: x\r\n")),
          Stream.fail(new Message.ClientDisconnected({ reason: "closed" }))
        ),
        decodeData: false
      }
      const { console, logged } = yield* capture
      const handler = yield* MessageHandler.MessageHandler
      const error = yield* handler
        .data(session(msg.envelope), msg)
        .pipe(Effect.provideService(Console.Console, console), Effect.flip)
      expect(error).toEqual(new Message.ClientDisconnected({ reason: "closed" }))
      expect(logged).toEqual([])
    }).pipe(Effect.provide(Debugging.layer()))
  )
})

describe("Debugging json", () => {
  it.effect("prints one JSON line with every field and the exact bytes", () =>
    Effect.gen(function* () {
      const body = "Subject: x\r\n\r\n\x00\x80\xff\xc3\xa9\r\n..\r\n"
      const env = envelope({
        mailParameters: [{ keyword: "BODY", value: "8BITMIME" }],
        mailOptions: { body: "8BITMIME" },
        recipients: [
          {
            address: "b@example.com",
            parameters: [{ keyword: "NOTIFY", value: "NEVER" }],
            dsn: { notify: "NEVER", orcpt: undefined }
          },
          { address: "c@example.com", parameters: [] }
        ]
      })
      const { logged } = yield* deliver(
        { format: "json" },
        message(["Subject: x\r\n\r\n\x00\x80", "\xff\xc3\xa9\r\n..\r\n"], env)
      )
      expect(logged).toHaveLength(1)
      expect(logged[0]).not.toContain("\n")
      const line = JSON.parse(logged[0]!)
      expect(line).toEqual({
        peer: "192.0.2.7:40123",
        helo: "client.example",
        mail_from: "a@example.com",
        rcpt_to: ["b@example.com", "c@example.com"],
        mail_options: ["BODY=8BITMIME"],
        rcpt_options: ["NOTIFY=NEVER"],
        body: "8BITMIME",
        ret: null,
        envid: null,
        rcpt_dsn: [{ notify: ["NEVER"], orcpt: null }, null],
        size: body.length,
        // TestClock starts at the epoch
        received_at: "1970-01-01T00:00:00.000Z",
        content_b64: Buffer.from(latin1(body)).toString("base64")
      })
      expect(Uint8Array.from(Buffer.from(line.content_b64, "base64"))).toEqual(latin1(body))
    })
  )

  it.effect("shows the DSN requests decoded, per recipient in RCPT order, and the body type", () =>
    Effect.gen(function* () {
      const env = envelope({
        mailParameters: [
          { keyword: "BODY", value: "BINARYMIME" },
          { keyword: "RET", value: "HDRS" },
          { keyword: "ENVID", value: "Q+2B1" }
        ],
        mailOptions: { body: "BINARYMIME", ret: "HDRS", envid: "Q+1" },
        recipients: [
          { address: "b@example.com", parameters: [] },
          {
            address: "c@example.com",
            parameters: [
              { keyword: "NOTIFY", value: "SUCCESS,FAILURE" },
              { keyword: "ORCPT", value: "rfc822;c+2Bx@example.com" }
            ],
            dsn: { notify: ["SUCCESS", "FAILURE"], orcpt: { addressType: "rfc822", address: "c+x@example.com" } }
          },
          {
            address: "d@example.com",
            parameters: [{ keyword: "ORCPT", value: "utf-8;d@example.com" }],
            dsn: { notify: undefined, orcpt: { addressType: "utf-8", address: "d@example.com" } }
          }
        ]
      })
      const { logged } = yield* deliver({ format: "json" }, message(["x\r\n"], env))
      const line = JSON.parse(logged[0]!)
      expect([line.body, line.ret, line.envid, line.rcpt_dsn]).toEqual([
        "BINARYMIME",
        "HDRS",
        "Q+1",
        [
          null,
          { notify: ["SUCCESS", "FAILURE"], orcpt: { type: "rfc822", address: "c+x@example.com" } },
          { notify: null, orcpt: { type: "utf-8", address: "d@example.com" } }
        ]
      ])
      expect(line.mail_options).toEqual(["BODY=BINARYMIME", "RET=HDRS", "ENVID=Q+2B1"])
    })
  )

  it.effect("brackets an IPv6 peer and gives null for a session without HELO", () =>
    Effect.gen(function* () {
      const { console, logged } = yield* capture
      const handler = yield* MessageHandler.MessageHandler
      const msg = message([])
      yield* handler
        .data({ ...session(msg.envelope), peer: { address: "::1", port: 5 }, greeting: undefined }, msg)
        .pipe(Effect.provideService(Console.Console, console))
      const line = JSON.parse(logged[0]!)
      expect([line.peer, line.helo, line.size, line.content_b64]).toEqual(["[::1]:5", null, 0, ""])
    }).pipe(Effect.provide(Debugging.layer({ format: "json" })))
  )
})

describe.skipIf(skipWithout("python3"))("Debugging through a real server", () => {
  it.live("prints what Python's smtplib sent", () =>
    Effect.gen(function* () {
      const { console, logged } = yield* capture
      const server = NodeSmtpServer.layer({ listen: ["127.0.0.1:0"], hostname: "mx.test" }).pipe(
        Layer.provide(Debugging.layer())
      )
      yield* Effect.gen(function* () {
        const { addresses } = yield* SmtpServer
        yield* pythonOk(
          [
            "import smtplib, sys",
            "with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20) as s:",
            "    s.sendmail('a@example.com', ['b@example.com'], b'Subject: hi\\r\\n\\r\\nhello\\r\\n.dot\\r\\n')"
          ].join("\n"),
          [String(addresses[0]!.port)]
        )
      }).pipe(Effect.provide(server), Effect.provideService(Console.Console, console))
      expect(logged).toEqual([
        [
          "---------- MESSAGE FOLLOWS ----------",
          // smtplib declares the size, as it did to smtpd
          "mail options: ['SIZE=28']",
          "Subject: hi",
          "X-Peer: 127.0.0.1",
          "",
          "hello",
          ".dot",
          "------------ END MESSAGE ------------"
        ].join("\n")
      ])
    })
  )
})
