// Property tests with many runs, outside the normal suite (`npm run fuzz`): random bytes, and
// random mutations of valid sessions, fed to the framer, the command codec, the protocol step,
// SASL and whole in-memory sessions. Nothing may throw, no session may die or hang, and every
// byte the server writes must be a well-formed reply.
//
//   FUZZ_RUNS=2000 npm run fuzz      the base number of runs (default 6000: about a minute)
//   FUZZ_SEED=123 npm run fuzz       replay a failing seed
import { assert, describe, expect } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Authenticator from "../../src/auth/Authenticator.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Command from "../../src/protocol/Command.js"
import * as Framer from "../../src/protocol/Framer.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as Sasl from "../../src/protocol/Sasl.js"
import * as Session from "../../src/protocol/Session.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import * as Sessions from "../../src/internal/Sessions.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import * as Trace from "../../src/internal/Trace.js"
import * as TestTransport from "../../src/testing/TestTransport.js"
import { chunked as splitAt } from "../utils/chunks.js"
import { itLiveProp, itProp } from "../utils/property.js"

const runs = Number(process.env["FUZZ_RUNS"] ?? 6000)
const seed = process.env["FUZZ_SEED"] === undefined ? undefined : Number(process.env["FUZZ_SEED"])
const params = (factor: number) => ({
  fastCheck: { numRuns: Math.max(1, Math.round(runs * factor)), ...(seed === undefined ? {} : { seed }) }
})

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
const modes = ["normalize", "reject", "pass"] as const

// --- inputs ---------------------------------------------------------------------------------

// lines a client might send, valid and nearly so
const sessionLines = [
  "EHLO client.test",
  "HELO client.test",
  "EHLO [192.0.2.1]",
  "MAIL FROM:<a@example.com>",
  "MAIL FROM:<> SIZE=10 BODY=8BITMIME",
  "MAIL FROM:<a@example.com> AUTH=<>",
  'MAIL FROM:<"quoted > local"@example.com>',
  "MAIL FROM:<a@example.com> SMTPUTF8",
  "RCPT TO:<b@example.com>",
  "RCPT TO:<postmaster>",
  "RCPT TO:<@relay.test:b@example.com>",
  "DATA",
  "Subject: fuzz",
  "",
  ".",
  "..leading dot",
  "RSET",
  "NOOP",
  "VRFY b",
  "EXPN list",
  "HELP",
  "QUIT",
  "STARTTLS",
  `AUTH PLAIN ${b64("\0alice\0secret")}`,
  `AUTH PLAIN ${b64("\0alice\0wrong")}`,
  "AUTH PLAIN",
  "AUTH PLAIN =",
  "AUTH LOGIN",
  b64("alice"),
  b64("secret"),
  "AUTH CRAM-MD5",
  `AUTH XOAUTH2 ${b64("user=alice\x01auth=Bearer t\x01\x01")}`,
  "*",
  "BDAT 10 LAST",
  "BDAT 3",
  "BDAT 0 LAST",
  "BDAT 9999999999 LAST",
  "BDAT x",
  "LHLO c",
  "MAIL FROM:<a@b.example> BODY=BINARYMIME RET=HDRS ENVID=a+2Bb",
  "RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d.example",
  "RCPT TO:<c@d.example> NOTIFY=NEVER,DELAY",
  "x".repeat(3000)
]
const lineEndings = ["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", ""]

// a session: lines with (mostly) CRLF, some bytes changed, inserted or removed
const mutatedSession = fc
  .record({
    lines: fc.array(fc.tuple(fc.constantFrom(...sessionLines), fc.constantFrom(...lineEndings)), { maxLength: 30 }),
    mutations: fc.array(
      fc.record({ at: fc.nat(), kind: fc.constantFrom("flip", "insert", "delete"), byte: fc.nat(255) }),
      { maxLength: 8 }
    )
  })
  .map(({ lines, mutations }) => {
    const bytes = Array.from(Buffer.from(lines.map(([line, end]) => line + end).join(""), "utf8"))
    for (const { at, byte, kind } of mutations) {
      const i = bytes.length === 0 ? 0 : at % bytes.length
      if (kind === "insert" || bytes.length === 0) bytes.splice(i, 0, byte)
      else if (kind === "delete") bytes.splice(i, 1)
      else bytes[i] = byte
    }
    return Uint8Array.from(bytes)
  })

// random bytes, rich in the bytes that matter to the framer
const framerBytes = fc.uint8Array({ maxLength: 600 }).chain((noise) =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom("\r", "\n", ".", "\r\n", "\r\n.\r\n", "\r\n..", "\n.\n", "\r.\r", "x", "DATA\r\n"),
        fc.string({ maxLength: 20 })
      ),
      { maxLength: 60 }
    )
    .chain((parts) =>
      fc.nat(Math.max(0, parts.length)).map((at) => {
        const text = Buffer.from(parts.join(""), "latin1")
        return Buffer.concat([text.subarray(0, at), noise, text.subarray(at)])
      })
    )
)

const anyInput = fc.oneof({ weight: 2, arbitrary: mutatedSession }, { weight: 1, arbitrary: framerBytes })

// cut points for a byte string, folded into its range so that every one cuts: the chunks it arrives in
const chunked = (bytes: Uint8Array, cuts: ReadonlyArray<number>) =>
  splitAt(
    bytes,
    cuts.map((c) => c % (bytes.length + 1))
  )
const cuts = fc.array(fc.nat(), { maxLength: 12 })

// --- the framer -----------------------------------------------------------------------------

interface FramerRun {
  /** Comparable frames; body frames joined (their slicing depends on the chunks). */
  readonly frames: ReadonlyArray<string>
}

const runFramer = (
  chunks: ReadonlyArray<Uint8Array>,
  options: {
    readonly mode: Framer.BareLineEndings
    readonly maxLineLength: number
    readonly maxMessageSize: number
    readonly startInData: boolean
  }
): FramerRun => {
  const framer = Framer.make({
    maxLineLength: options.maxLineLength,
    maxMessageSize: options.maxMessageSize,
    bareLineEndings: options.mode
  })
  if (options.startInData) framer.startData()
  const out: Array<string> = []
  let body = ""
  let aborted: string | undefined
  const drain = () => {
    for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
      switch (frame._tag) {
        case "Line": {
          const line = latin1(frame.bytes)
          // a line holds no LF, but one under `reject` marked for its lone LF or CR (refused whole)
          if (line.includes("\n")) expect(frame.bareLineEnding, "a line with an LF is marked").toBe(true)
          if (frame.bareLineEnding === true) expect(/[\r\n]/.test(line), "a marked line has a lone CR or LF").toBe(true)
          expect(frame.bytes.length + 2, "a line fits the limit with its CRLF").toBeLessThanOrEqual(
            options.maxLineLength
          )
          expect(framer.currentMode).toBe("command")
          out.push(`L:${line}`)
          if (line.toUpperCase() === "DATA") {
            framer.startData()
            body = ""
            aborted = undefined
          }
          break
        }
        case "LineTooLong":
          out.push("T")
          break
        case "Body":
          expect(aborted, "no body after an abort").toBeUndefined()
          expect(frame.bytes.length).toBeGreaterThan(0)
          body += latin1(frame.bytes)
          break
        case "Abort":
          // (a second Abort can follow the first one: see "the verdict on a refused message" in
          // test/server/Limits.test.ts; the first one counts here)
          aborted ??= frame.reason
          if (frame.reason === "MessageTooBig") {
            expect(options.maxMessageSize).toBeGreaterThan(0)
            expect(body.length, "never more body than the limit").toBeLessThanOrEqual(options.maxMessageSize)
          } else expect(options.mode).toBe("reject")
          break
        case "EndOfData": {
          expect(framer.currentMode).toBe("command")
          if (aborted === undefined) {
            expect(frame.size, "the size is the body handed out").toBe(body.length)
            if (options.maxMessageSize > 0) expect(frame.size).toBeLessThanOrEqual(options.maxMessageSize)
            if (options.mode !== "pass") {
              // normalized or rejected: every CR is in a CRLF, every LF too
              expect(body.replace(/\r\n/g, ""), "no bare CR or LF in the body").not.toMatch(/[\r\n]/)
            }
            out.push(`B:${body}`, `E:${frame.size}`)
          } else {
            // how much body came out before the abort depends on the chunks, and so does which
            // reason comes first when there are two (a bare CR is seen before the size is counted)
            out.push("A", "E")
          }
          body = ""
          aborted = undefined
          break
        }
      }
    }
  }
  for (const chunk of chunks) {
    framer.push(chunk)
    drain()
  }
  if (framer.currentMode === "data" && aborted === undefined) out.push(`open:${body.length}`)
  return { frames: out }
}

const framerOptions = fc.record({
  mode: fc.constantFrom(...modes),
  maxLineLength: fc.constantFrom(512, 600, 2048),
  maxMessageSize: fc.constantFrom(0, 1, 50, 300),
  startInData: fc.boolean()
})

describe("Framer, BDAT", () => {
  itProp(
    "a chunk of any size over any bytes in any pieces: its bytes out as they came (to the limit), then commands",
    [anyInput, cuts, fc.nat(400), fc.constantFrom(0, 1, 50, 300)],
    ([bytes, points, size, maxMessageSize]) => {
      const framer = Framer.make({ maxMessageSize })
      framer.startChunk(size, true)
      let body = ""
      let aborted = false
      let end: number | undefined
      let lines = 0
      for (const piece of splitAt(bytes, points)) {
        framer.push(piece)
        for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
          if (frame._tag === "Body") body += latin1(frame.bytes)
          else if (frame._tag === "Abort") aborted = true
          else if (frame._tag === "EndOfChunk") end = frame.size
          else if (frame._tag === "Line" || frame._tag === "LineTooLong") lines++
          else throw new Error(`unexpected ${frame._tag}`)
        }
        // never more than a line's worth held once the chunk is through
        if (end !== undefined) expect(framer.buffered).toBeLessThan(2048)
      }
      const content = latin1(bytes.subarray(0, size))
      if (bytes.length < size) {
        expect(end).toBeUndefined()
        expect(lines).toBe(0)
      } else expect(end).toBe(size)
      if (aborted) {
        expect(maxMessageSize).toBeGreaterThan(0)
        expect(content.startsWith(body)).toBe(true)
        expect(body.length).toBeLessThanOrEqual(maxMessageSize)
      } else expect(body).toBe(content)
    },
    params(1)
  )
})

describe("Framer", () => {
  itProp(
    "any bytes, in any chunks, in every mode: never throws, and gives the frames of one chunk",
    [anyInput, cuts, framerOptions],
    ([bytes, points, options]) => {
      const whole = runFramer([bytes], options)
      const pieces = runFramer(chunked(bytes, points), options)
      // an open message may hold back a CR or a dot until the next byte: compare closed ones
      const closed = (run: FramerRun) => run.frames.filter((frame) => !frame.startsWith("open:"))
      expect(closed(pieces)).toEqual(closed(whole))
    },
    { timeout: 600_000, ...params(10) }
  )

  itProp(
    "byte by byte gives the same frames as one chunk",
    [anyInput, framerOptions],
    ([bytes, options]) => {
      const single = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))
      const closed = (run: FramerRun) => run.frames.filter((frame) => !frame.startsWith("open:"))
      expect(closed(runFramer(single, options))).toEqual(closed(runFramer([bytes], options)))
    },
    { timeout: 600_000, ...params(2) }
  )
})

// --- the command codec, the protocol step, SASL ------------------------------------------------

const anyLine = fc.oneof(
  fc.string({ maxLength: 300, unit: "binary" }),
  fc.string({ maxLength: 300, unit: "grapheme-ascii" }),
  fc
    .constantFrom(...Command.verbs, "STARTTLS", "AUTH")
    .chain((verb) =>
      fc
        .tuple(fc.constantFrom(" ", "", "  ", "\t", ":"), fc.string({ maxLength: 200, unit: "binary" }))
        .map(([separator, rest]) => `${verb}${separator}${rest}`)
    ),
  mutatedSession.map((bytes) => latin1(bytes).split(/\r?\n/)[0] ?? "")
)

describe("Command", () => {
  itProp(
    "decodeLine: any line is a command or a 5xx reply, never an exception",
    [anyLine],
    ([line]) => {
      const decoded = Command.decodeLine(line)
      if (Result.isFailure(decoded)) {
        expect(decoded.failure.code).toBeGreaterThanOrEqual(500)
        expect(decoded.failure.code).toBeLessThan(600)
      }
    },
    { timeout: 600_000, ...params(25) }
  )

  itProp(
    "a decoded command encodes to a line that decodes to the same command",
    [anyLine],
    ([line]) => {
      const decoded = Command.decodeLine(line)
      if (Result.isFailure(decoded)) return
      const encoded = Command.encodeLine(decoded.success)
      expect(Command.decodeLine(encoded)).toEqual(Result.succeed(decoded.success))
    },
    { timeout: 600_000, ...params(25) }
  )
})

const protocolConfig = fc
  .record({
    startTls: fc.boolean(),
    requireTls: fc.boolean(),
    requireAuth: fc.boolean(),
    authInsecure: fc.boolean(),
    auth: fc.boolean(),
    maxErrors: fc.integer({ min: 1, max: 30 }),
    maxJunkCommands: fc.integer({ min: 0, max: 5 }),
    maxRecipients: fc.integer({ min: 1, max: 3 }),
    smtpUtf8: fc.boolean(),
    lmtp: fc.boolean(),
    chunking: fc.boolean(),
    dsn: fc.boolean()
  })
  .map(({ auth, ...options }) =>
    Protocol.makeConfig({ ...options, authMechanisms: auth ? ["PLAIN", "LOGIN", "CRAM-MD5"] : [] })
  )

describe("Protocol.step", () => {
  itProp(
    "folds any lines from any state without throwing; errors only grow, the last one closes",
    [protocolConfig, fc.array(fc.oneof(anyLine, fc.constantFrom(...sessionLines)), { maxLength: 60 }), fc.boolean()],
    ([config, lines, secure]) => {
      let state = secure ? Session.secured() : Session.initial
      for (const line of lines) {
        const bytes = Buffer.from(line, "latin1")
        const frame = bytes.length + 2 > 2048 ? ({ _tag: "LineTooLong" } as const) : ({ _tag: "Line", bytes } as const)
        const decision = Protocol.step(config, state, frame)
        expect(decision.state.errors).toBeGreaterThanOrEqual(state.errors)
        expect(decision.state.errors).toBeLessThanOrEqual(config.maxErrors)
        if (decision._tag === "Close") return
        if (decision.state.errors >= config.maxErrors) assert.fail("past the error limit without closing")
        // a handler that accepts everything; the others are the connection's business
        state = decision._tag === "Mail" || decision._tag === "Rcpt" ? decision.accepted : decision.state
        if (decision._tag === "Data") state = Session.reset(state)
        if (decision._tag === "StartTls") state = Session.secured(state)
        if (decision._tag === "Auth") state = Session.authenticated(state, "alice")
      }
    },
    { timeout: 600_000, ...params(10) }
  )
})

// AUTH lines as clients write them, and as they might be bent
const authLine = fc
  .tuple(
    fc.constantFrom("AUTH", "auth", "Auth"),
    fc.constantFrom(" ", "  ", "\t", " \t"),
    fc.constantFrom("PLAIN", "plain", "LOGIN", "XOAUTH2", "CRAM-MD5", "X"),
    fc.constantFrom(" ", "  ", "\t"),
    fc.oneof(
      fc.base64String({ minLength: 4, maxLength: 80 }),
      fc.constantFrom("=", "c2VjcmV0", "AGFsaWNlAHNlY3JldA==")
    ),
    fc.constantFrom("", " ", "\t", "  ")
  )
  .map((parts) => parts.join(""))

describe("Trace", () => {
  itProp(
    "a traced line never holds a control character, whatever the bytes",
    [
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        mutatedSession.map((bytes) => bytes.subarray(0, 300))
      )
    ],
    ([bytes]) => {
      const traced = Trace.commandLine({ _tag: "Line", bytes })
      // eslint-disable-next-line no-control-regex
      expect(traced).not.toMatch(/[\x00-\x1f\x7f\u0080-\u009f]/)
    },
    { timeout: 600_000, ...params(10) }
  )

  itProp(
    "an AUTH command the server accepts never shows its initial response in the trace",
    [authLine],
    ([line]) => {
      const decoded = Command.decodeLine(line)
      if (Result.isFailure(decoded) || decoded.success._tag !== "Auth") return
      const response = decoded.success.initialResponse
      if (response === undefined || response === "=") return
      expect(Trace.commandLine({ _tag: "Line", bytes: Buffer.from(line, "latin1") })).not.toContain(response)
    },
    { timeout: 600_000, ...params(10) }
  )
})

describe("Sasl", () => {
  itProp(
    "any mechanism, initial response and answers: a challenge, credentials or a 5xx, never an exception",
    [
      fc.constantFrom(...Sasl.mechanisms),
      fc.option(fc.oneof(fc.base64String({ maxLength: 100 }), fc.string({ maxLength: 100, unit: "binary" }))),
      fc.array(
        fc.oneof(
          fc.base64String({ maxLength: 400 }),
          fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("base64")),
          fc.string({ maxLength: 100, unit: "binary" })
        ),
        { maxLength: 4 }
      )
    ],
    ([mechanism, initial, answers]) => {
      let step = Sasl.start(mechanism, initial ?? undefined, { hostname: "fuzz.test", nonce: "1.2" })
      for (const answer of answers) {
        if (step._tag !== "Challenge") break
        step = step.next(answer)
      }
      if (step._tag === "Fail") expect(step.reply.code).toBeGreaterThanOrEqual(500)
      if (step._tag === "Done" && step.credentials._tag !== "CramMd5") expect(step.credentials.user).not.toBe("")
    },
    { timeout: 600_000, ...params(10) }
  )
})

// --- whole sessions -------------------------------------------------------------------------

const serverOptions = fc.record({
  // mostly off: on, most random input ends at the first pipelined line
  forbidUnauthPipelining: fc.constantFrom(false, false, false, true),
  bareLineEndings: fc.constantFrom(...modes),
  maxMessageSize: fc.constantFrom(0, 20, 1000),
  startTls: fc.boolean(),
  requireTls: fc.boolean(),
  authInsecure: fc.boolean(),
  requireAuth: fc.boolean(),
  maxErrors: fc.integer({ min: 1, max: 25 }),
  maxJunkCommands: fc.integer({ min: 0, max: 100 }),
  maxRecipients: fc.integer({ min: 1, max: 3 }),
  smtpUtf8: fc.boolean(),
  trace: fc.boolean()
})

// what the message handler does: nothing (acceptAll), read the body, or refuse and fail
const handlers = {
  acceptAll: MessageHandler.make({}),
  reads: MessageHandler.make({ data: (_session, message) => Stream.runDrain(message.body) }),
  refuses: MessageHandler.make({
    rcpt: (_session, recipient) =>
      recipient.address.startsWith("postmaster") ? Effect.fail(new SmtpError.MailboxNotFound()) : Effect.void,
    data: (_session, message) =>
      Stream.runDrain(Stream.take(message.body, 1)).pipe(Effect.andThen(Effect.die(new Error("handler bug"))))
  })
}

const users = Authenticator.fromUsers({ alice: "secret" })

describe("sessions", () => {
  itLiveProp(
    "any input, any options: well-formed replies and a close, never a defect or a hang",
    [
      anyInput,
      cuts,
      serverOptions,
      fc.constantFrom(...(Object.keys(handlers) as Array<keyof typeof handlers>)),
      fc.boolean(),
      fc.boolean(),
      fc.boolean()
    ],
    ([bytes, points, options, handlerName, waitForGreeting, withAuth, secure]) =>
      Effect.gen(function* () {
        const config = yield* ServerConfig.make({
          hostname: "fuzz.test",
          ...options,
          errorDelay: 0,
          authFailureDelay: 0
        })
        const sessions = yield* Sessions.make(config, handlers[handlerName]).pipe(
          withAuth ? Effect.provide(users) : (effect) => effect
        )
        const { client, transport } = yield* TestTransport.make({ startTls: options.startTls, secure })
        const fiber = yield* Effect.forkChild(sessions.serve(transport))
        if (waitForGreeting) {
          const greeting = yield* Effect.result(Effect.sandbox(client.reply))
          if (Result.isSuccess(greeting)) expect([220, 554]).toContain(greeting.success.code)
        }
        for (const chunk of chunked(bytes, points)) yield* client.send(chunk)
        yield* client.end
        const exit = yield* Fiber.await(fiber).pipe(Effect.timeout("5 seconds"), Effect.option)
        assert(Option.isSome(exit), `the session hung on ${JSON.stringify(latin1(bytes))}`)
        assert(Exit.isSuccess(exit.value), `the session ended with ${String(exit.value)}`)
        expect(yield* client.isClosed).toBe(true)
        const output = yield* client.output
        expect(output, "at least one reply").toMatch(/\r\n$/)
        for (const line of output.slice(0, -2).split("\r\n")) {
          expect(line, `a reply line in ${JSON.stringify(output)}`).toMatch(/^[2-5]\d\d(?:[ -][^\r\n]*)?$/)
        }
      }).pipe(Effect.scoped),
    { timeout: 600_000, ...params(3) }
  )
})

// --- trickled input ---------------------------------------------------------------------------

// command lines (no DATA: a body has its minimum rate, not the deadline), sent in pieces with
// whole seconds between them, on TestClock
const trickledLines = fc.array(
  fc.constantFrom("NOOP", "RSET", "EHLO client.test", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "HELP x"),
  { minLength: 1, maxLength: 6 }
)
const trickleDeadline = 30

describe("trickled input", () => {
  itLiveProp(
    "no session outlives its command deadline, and none is cut before it",
    [trickledLines, cuts, fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 60 })],
    ([lines, points, gaps]) =>
      Effect.gen(function* () {
        const config = yield* ServerConfig.make({
          hostname: "fuzz.test",
          commandDeadline: `${trickleDeadline} seconds`
        })
        const sessions = yield* Sessions.make(config, handlers.acceptAll)
        const { client, transport } = yield* TestTransport.make()
        const fiber = yield* Effect.forkChild(sessions.serve(transport))
        yield* client.reply
        const input = new TextEncoder().encode(lines.map((line) => `${line}\r\n`).join(""))
        const pieces = chunked(input, points)
        // the client's view: when the line it has begun (bytes since its last LF) began
        let time = 0
        let openSince: number | undefined
        for (const [i, piece] of pieces.entries()) {
          if (yield* client.isClosed) break
          yield* client.send(piece)
          const lf = piece.lastIndexOf(10)
          if (lf === -1) openSince ??= time
          else openSince = lf === piece.length - 1 ? undefined : time
          const gap = gaps[i % Math.max(1, gaps.length)] ?? 0
          yield* TestClock.adjust(`${gap} seconds`)
          time += gap
          const closed = yield* client.isClosed
          const cut = /Command deadline exceeded[^\r\n]*\r\n$/.test(yield* client.output)
          const overdue = openSince !== undefined && time - openSince >= trickleDeadline
          assert(!overdue || closed, `a line open for ${time - (openSince ?? 0)} s still held at ${time} s`)
          assert(!cut || overdue, `cut at ${time} s, its line open since ${openSince} s`)
        }
        yield* client.end
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.await(fiber).pipe(Effect.timeout("5 seconds"), Effect.option)
        assert(Option.isSome(exit) && Exit.isSuccess(exit.value), "the session ended cleanly")
      }).pipe(Effect.scoped, Effect.provide(TestClock.layer())),
    { timeout: 600_000, ...params(0.5) }
  )
})
