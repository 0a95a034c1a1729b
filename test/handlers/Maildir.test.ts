import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger, References, Stream } from "effect"
import * as FileSystem from "effect/FileSystem"
import { isPlatformError } from "effect/PlatformError"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Maildir from "../../src/handlers/Maildir.js"
import * as Received from "../../src/handlers/Received.js"
import { pythonOk } from "../utils/process.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { ourReceived, peelReceived } from "../utils/relay.js"
import { skipWithout } from "../utils/tools.js"

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

const session: SessionInfo = {
  id: "s1",
  peer: { address: "192.0.2.7", port: 40123 },
  local: { address: "192.0.2.25", port: 25 },
  hostname: "mx/a:b",
  greeting: { name: "client.example", esmtp: true },
  envelope: undefined,
  secure: false
}

const message = (body: Stream.Stream<Uint8Array, Message.BodyError>, mailFrom = "a@example.com"): Message.Message => ({
  envelope: {
    mailFrom,
    mailParameters: [],
    mailOptions: { size: undefined, body: undefined, smtpUtf8: false, ret: undefined, envid: undefined },
    recipients: [
      { address: "b@example.com", parameters: [] },
      { address: "c@example.com", parameters: [] }
    ]
  },
  body,
  decodeData: false
})

const chunks = (...parts: ReadonlyArray<string>) => Stream.fromIterable(parts.map(latin1))

const envelopeLines = "Return-Path: <a@example.com>\r\nDelivered-To: b@example.com\r\n"
// our Received: under them, dated by the TestClock (0); two recipients, so no "for"
const header = `${envelopeLines}Received: from client.example ([192.0.2.7]) by mx/a:b with ESMTP id s1.ID;\r\n\tThu, 01 Jan 1970 00:00:00 +0000\r\n`
// the transaction id counts this process's messages: the rest is fixed
const normal = (stored: string) => stored.replace(/ id s1\.\w+;/, " id s1.ID;")

// a fresh root under os.tmpdir(), removed with the test's scope
const maildir = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "maildir-test-" })
  const root = `${dir}/Maildir`
  const list = (sub: string) => fs.readDirectory(`${root}/${sub}`)
  const handler = yield* MessageHandler.MessageHandler.pipe(Effect.provide(Maildir.layer({ root })))
  return { fs, dir, root, list, handler }
})

const deliverOne = (body: Stream.Stream<Uint8Array, Message.BodyError>, mailFrom?: string) =>
  Effect.gen(function* () {
    const { fs, root, list, handler } = yield* maildir
    yield* handler.data(session, message(body, mailFrom))
    const [name] = yield* list("new")
    assert(name !== undefined)
    return { name, stored: yield* fs.readFile(`${root}/new/${name}`), tmp: yield* list("tmp") }
  })

describe("Maildir", () => {
  it.effect("creates tmp, new and cur with mode 0700 when the layer starts", () =>
    Effect.gen(function* () {
      const { fs, root } = yield* maildir
      for (const sub of ["tmp", "new", "cur"]) {
        const info = yield* fs.stat(`${root}/${sub}`)
        expect([sub, info.type, info.mode & 0o777]).toEqual([sub, "Directory", 0o700])
      }
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("stores Return-Path, Delivered-To (first recipient) and the exact body, tmp left empty", () =>
    Effect.gen(function* () {
      const body = "Subject: caf\xc3\xa9\r\n\r\n.\r\n..two dots\r\n\x00\x80\xff\r\nlast\r\n"
      const { name, stored, tmp } = yield* deliverOne(
        chunks("Subject: caf\xc3", "\xa9\r\n\r\n.\r\n..two", " dots\r\n\x00\x80\xff\r\nlast\r\n")
      )
      expect(normal(text(stored))).toBe(header + body)
      expect(tmp).toEqual([])
      // <seconds>.M<micro>P<pid>Q<count>.<host>, with the host's "/" and ":" escaped
      expect(name).toMatch(new RegExp(`^\\d+\\.M\\d+P${process.pid}Q\\d+\\.mx\\\\057a\\\\072b$`))
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("streams a 1 MB body given in many chunks, byte for byte", () =>
    Effect.gen(function* () {
      const parts = Array.from({ length: 1024 }, (_, i) => {
        const chunk = new Uint8Array(1024)
        for (let j = 0; j < chunk.length; j++) chunk[j] = (i * 7 + j) & 0xff
        return chunk
      })
      const { stored } = yield* deliverOne(Stream.fromIterable(parts))
      const top = normal(text(stored.subarray(0, 200))).slice(0, header.length)
      expect(top).toBe(header)
      const body = stored.subarray(stored.length - 1024 * 1024)
      expect(normal(text(stored.subarray(0, stored.length - body.length)))).toBe(header)
      expect(Buffer.from(body).equals(Buffer.concat(parts))).toBe(true)
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("writes Return-Path: <> for the null sender", () =>
    Effect.gen(function* () {
      const { stored } = yield* deliverOne(chunks("Subject: bounce\r\n\r\nx\r\n"), "")
      expect(normal(text(stored))).toBe(
        `Return-Path: <>\r\nDelivered-To: b@example.com\r\n${header.slice(envelopeLines.length)}Subject: bounce\r\n\r\nx\r\n`
      )
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("writes no Received: with received: false, and no second one on a message a Router traced", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "maildir-test-" })
      const off = yield* MessageHandler.MessageHandler.pipe(
        Effect.provide(Maildir.layer({ root: `${dir}/off`, received: false }))
      )
      yield* off.data(session, message(chunks("Subject: x\r\n\r\ny\r\n")))
      const [name] = yield* fs.readDirectory(`${dir}/off/new`)
      expect(yield* fs.readFileString(`${dir}/off/new/${name}`)).toBe(`${envelopeLines}Subject: x\r\n\r\ny\r\n`)

      const { handler, list, root } = yield* maildir
      const traced = yield* Received.trace({ ...session, id: "router" }, message(chunks("Subject: x\r\n\r\ny\r\n")))
      yield* handler.data(session, traced)
      const [tracedName] = yield* list("new")
      const stored = yield* fs.readFileString(`${root}/new/${tracedName}`)
      expect(peelReceived(stored.slice(envelopeLines.length)).raw).toHaveLength(1)
      expect(stored).toContain(" id router.")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("gives two deliveries two files", () =>
    Effect.gen(function* () {
      const { fs, root, list, handler } = yield* maildir
      yield* handler.data(session, message(chunks("Subject: 1\r\n\r\none\r\n")))
      yield* handler.data(session, message(chunks("Subject: 2\r\n\r\ntwo\r\n")))
      const names = yield* list("new")
      expect(names).toHaveLength(2)
      const contents = yield* Effect.forEach(names, (name) => fs.readFileString(`${root}/new/${name}`))
      expect(contents.map(normal).sort()).toEqual([
        `${header}Subject: 1\r\n\r\none\r\n`,
        `${header}Subject: 2\r\n\r\ntwo\r\n`
      ])
      // each message its own id
      const ids = contents.map((content) => / id (s1\.\w+);/.exec(content)?.[1])
      expect(new Set(ids).size).toBe(2)
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("keeps nothing when the body fails midway, and fails with the body's error", () =>
    Effect.gen(function* () {
      const { list, handler } = yield* maildir
      const body = Stream.concat(
        chunks("Subject: x\r\n\r\n", "partial"),
        Stream.fail(new Message.ClientDisconnected({ reason: "closed" }))
      )
      const error = yield* Effect.flip(handler.data(session, message(body)))
      expect(error).toEqual(new Message.ClientDisconnected({ reason: "closed" }))
      expect([yield* list("tmp"), yield* list("new")]).toEqual([[], []])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("keeps nothing when the delivery is interrupted while the body streams", () =>
    Effect.gen(function* () {
      const { fs, root, list, handler } = yield* maildir
      const streaming = yield* Deferred.make<void>()
      const body = chunks("Subject: x\r\n\r\n", "partial").pipe(
        Stream.concat(Stream.fromEffect(Deferred.succeed(streaming, undefined)).pipe(Stream.drain)),
        Stream.concat(Stream.never)
      )
      const fiber = yield* Effect.forkChild(handler.data(session, message(body)))
      yield* Deferred.await(streaming)
      // streamed, not buffered: what arrived so far is already in tmp/
      const [partial] = yield* list("tmp")
      expect(normal(yield* fs.readFileString(`${root}/tmp/${partial}`))).toBe(`${header}Subject: x\r\n\r\npartial`)
      yield* Fiber.interrupt(fiber)
      expect([yield* list("tmp"), yield* list("new")]).toEqual([[], []])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("fails with StorageError and removes the tmp file when the rename fails", () =>
    Effect.gen(function* () {
      const { fs, root, list, handler } = yield* maildir
      yield* fs.remove(`${root}/new`, { recursive: true })
      const error = yield* Effect.flip(handler.data(session, message(chunks("Subject: x\r\n\r\ny\r\n"))))
      assert(error._tag === "StorageError")
      expect(isPlatformError(error.cause)).toBe(true)
      expect(yield* list("tmp")).toEqual([])
    }).pipe(Effect.provide(NodeFileSystem.layer), Effect.provideService(References.MinimumLogLevel, "None"))
  )

  it.effect("an unusable root: the layer starts, deliveries fail with 452 4.3.1 and the causes are logged", () => {
    const logs: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      logs.push(`${logLevel.toUpperCase()} ${Array.isArray(message) ? message[0] : message}`)
    })
    return Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "maildir-test-" })
      // the root's parent is a regular file: no directory can be made there
      yield* fs.writeFileString(`${dir}/file`, "not a directory")
      const root = `${dir}/file/Maildir`
      const handler = yield* MessageHandler.MessageHandler.pipe(Effect.provide(Maildir.layer({ root })))
      const error = yield* Effect.flip(handler.data(session, message(chunks("Subject: x\r\n\r\ny\r\n"))))
      assert(error._tag === "StorageError")
      expect(isPlatformError(error.cause)).toBe(true)
      expect(Reply.encode(SmtpError.reply(error), true)).toBe("452 4.3.1 Insufficient system storage\r\n")
      // each on one line, with its cause in words
      expect(logs).toHaveLength(2)
      expect(logs[0]).toMatch(
        new RegExp(`^WARN maildir: cannot create ${root} \\(.*ENOTDIR.*\\); deliveries will retry$`)
      )
      expect(logs[1]).toMatch(/^ERROR maildir: delivery failed: .*ENOTDIR/)
      // fixed while running: the next delivery creates the directories and succeeds
      yield* fs.remove(`${dir}/file`)
      yield* handler.data(session, message(chunks("Subject: x\r\n\r\ny\r\n")))
      expect(yield* fs.readDirectory(`${root}/new`)).toHaveLength(1)
    }).pipe(Effect.provide([NodeFileSystem.layer, Logger.layer([logger])]))
  })
})

describe.skipIf(skipWithout("python3"))("Maildir through a real server", () => {
  it.live("stores what Python's smtplib sent", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "maildir-test-" })
      const root = `${dir}/Maildir`
      const server = NodeSmtpServer.layer({ listen: ["127.0.0.1:0"], hostname: "mx.test" }).pipe(
        Layer.provide(Maildir.layerNode({ root }))
      )
      yield* Effect.gen(function* () {
        const { addresses } = yield* SmtpServer
        yield* pythonOk(
          [
            "import smtplib, sys",
            "with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20) as s:",
            "    s.sendmail('a@example.com', ['b@example.com', 'c@example.com'], b'Subject: hi\\r\\n\\r\\nhello\\r\\n.dot\\r\\n')"
          ].join("\n"),
          [String(addresses[0]!.port)]
        )
      }).pipe(Effect.provide(server))
      const [name] = yield* fs.readDirectory(`${root}/new`)
      assert(name !== undefined)
      expect(name).toMatch(/\.mx\.test$/)
      const stored = yield* fs.readFileString(`${root}/new/${name}`)
      expect(stored.startsWith(envelopeLines)).toBe(true)
      expect(peelReceived(stored.slice(envelopeLines.length))).toMatchObject({
        received: [ourReceived({ by: "mx.test" })],
        rest: "Subject: hi\r\n\r\nhello\r\n.dot\r\n"
      })
      expect(yield* fs.readDirectory(`${root}/tmp`)).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )
})
