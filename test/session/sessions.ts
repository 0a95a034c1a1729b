// Random SMTP sessions for the equivalence property (Equivalence.test.ts): what a client sends,
// cut into chunks, maybe cut short; the server's options; and a handler, an authenticator and
// user commands that record every call they get, with what they saw of the session.
import { Effect, Layer, Stream } from "effect"
import * as fc from "fast-check"
import * as Authenticator from "../../src/auth/Authenticator.js"
import type * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Verdicts from "../../src/handler/Verdicts.js"
import { formatEndpoint, type SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Framer from "../../src/protocol/Framer.js"
import * as Parameters from "../../src/protocol/Parameters.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import type * as ServerConfig from "../../src/server/ServerConfig.js"
import { chunked } from "../utils/chunks.js"

const encoder = new TextEncoder()
const base64 = (text: string) => Buffer.from(text).toString("base64")
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

// the handler's answer depends on the address's local part
const local = fc.constantFrom(
  "a",
  "a",
  "b",
  "b",
  "refused",
  "crash",
  "yield",
  "skip",
  "first",
  "fail",
  "reply",
  "each",
  "closing",
  "ü"
)
const address = fc.oneof({ weight: 6, arbitrary: local.map((l) => `${l}@x.test`) }, fc.constant(""))
const mailParameters = fc.constantFrom(
  "",
  "",
  " SIZE=100",
  " SIZE=99999999",
  " BODY=8BITMIME",
  " BODY=BINARYMIME",
  " SMTPUTF8",
  " FOO=1",
  " RET=HDRS ENVID=x+2By",
  " RET=ALL"
)
const rcptParameters = fc.constantFrom(
  "",
  "",
  "",
  " NOTIFY=SUCCESS,FAILURE",
  " NOTIFY=NEVER ORCPT=rfc822;a+40x.test",
  " NOTIFY=NEVER,DELAY"
)

const commandText = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(address, mailParameters).map(([a, p]) => `MAIL FROM:<${a}>${p}`) },
  { weight: 12, arbitrary: fc.tuple(address, rcptParameters).map(([a, p]) => `RCPT TO:<${a}>${p}`) },
  {
    weight: 20,
    arbitrary: fc.constantFrom(
      "EHLO client.test",
      "EHLO client.test",
      "HELO client.test",
      "ehlo lower.test",
      "LHLO client.test",
      "DATA",
      "BDAT 5",
      "BDAT 0 LAST",
      "BDAT 3 LAST",
      "BDAT x",
      "RSET",
      "NOOP",
      "VRFY a",
      "EXPN a",
      "HELP",
      "STARTTLS",
      "FOO",
      "",
      "MAIL FROM:<bad",
      "RCPT TO:",
      "XCMD hello",
      "XFAIL",
      "quıt",
      `NOOP ${"x".repeat(600)}`
    )
  },
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      "AUTH PLAIN",
      "AUTH LOGIN",
      "AUTH CRAM-MD5",
      "AUTH XOAUTH2 abc",
      `AUTH PLAIN ${base64("\0alice\0secret")}`,
      `AUTH PLAIN ${base64("\0alice\0wrong")}`,
      `AUTH LOGIN ${base64("alice")}`,
      base64("\0alice\0secret"),
      base64("alice"),
      base64("secret"),
      base64("wrong"),
      "*",
      "=",
      "not base64!"
    )
  },
  { weight: 1, arbitrary: fc.constant("QUIT") }
)

const lineEnd = fc.constantFrom("\r\n", "\r\n", "\r\n", "\r\n", "\n")
const command = fc.tuple(commandText, lineEnd).map(([text, end]) => encoder.encode(text + end))
const notUtf8 = fc.constant(new Uint8Array([0x4e, 0x4f, 0xff, 0xfe, 0x0d, 0x0a]))

// message content with dots, bare line endings and would-be terminators (smuggling vectors)
const bodyPiece = fc.oneof(
  fc.stringMatching(/^[ -~]{0,30}$/),
  fc.constantFrom(".", "..", ".x", "", "\r", "\n", ".\n", "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\r", "ü", "QUIT")
)
const terminator = fc.constantFrom("\r\n.\r\n", "\r\n.\r\n", "\r\n.\r\n", "\n.\n", "")
// now and then more than the fast engine keeps before calling the handler (64 KiB)
const bodyPieces = fc.oneof(
  { weight: 19, arbitrary: fc.array(bodyPiece, { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.array(bodyPiece, { maxLength: 4 }).map((pieces) => [...pieces, "y".repeat(70_000)]) }
)
const body = fc.tuple(bodyPieces, terminator).map(([pieces, end]) => encoder.encode(pieces.join("\r\n") + end))
// BDAT chunks (RFC 3030): opaque bytes, sizes that may not match what follows, the last one
// LAST (or not: the client goes on with a command between chunks)
const chunk = fc
  .tuple(fc.array(bodyPiece, { maxLength: 4 }), fc.constantFrom(0, 0, 0, 1, -1), fc.boolean())
  .map(([pieces, skew, last]) => {
    const content = encoder.encode(pieces.join("\r\n"))
    return Framer.concat([
      encoder.encode(`BDAT ${Math.max(0, content.length + skew)}${last ? " LAST" : ""}\r\n`),
      content
    ])
  })
const between = fc.constantFrom("NOOP", "RSET", "DATA", "RCPT TO:<a@x.test>", "QUIT", "BDAT 2")
const chunks = fc
  .array(
    fc.oneof({ weight: 5, arbitrary: chunk }, { weight: 1, arbitrary: between.map((c) => encoder.encode(`${c}\r\n`)) }),
    {
      minLength: 1,
      maxLength: 4
    }
  )
  .map((parts) => [...parts, encoder.encode("BDAT 0 LAST\r\n")])
const transaction = fc
  .tuple(
    fc.constantFrom("EHLO", "LHLO", ""),
    fc.tuple(address, mailParameters),
    fc.array(fc.tuple(address, rcptParameters), { minLength: 1, maxLength: 3 }),
    fc.oneof(
      body.map((content) => [encoder.encode("DATA\r\n"), content]),
      chunks
    )
  )
  .map(([greet, [from, parameters], to, content]) => [
    ...(greet === "" ? [] : [encoder.encode(`${greet} client.test\r\n`)]),
    encoder.encode(`MAIL FROM:<${from}>${parameters}\r\n`),
    ...to.map(([rcpt, p]) => encoder.encode(`RCPT TO:<${rcpt}>${p}\r\n`)),
    ...content
  ])

// an AUTH exchange: the command, then the answers to its challenges (right, wrong, cancelled, not base64)
const answer = fc.constantFrom(base64("\0alice\0secret"), base64("\0alice\0wrong"), "*", "=", "not base64!")
const auth = fc
  .oneof(
    fc.tuple(fc.constant("AUTH PLAIN"), answer).map(([c, a]) => [c, a]),
    fc.constantFrom(
      ["AUTH LOGIN", base64("alice"), base64("secret")],
      ["AUTH LOGIN", base64("alice"), base64("wrong")]
    ),
    fc.constantFrom(["AUTH LOGIN", "*"], [`AUTH LOGIN ${base64("alice")}`, base64("secret")]),
    answer.map((a) => [`AUTH PLAIN ${a}`])
  )
  .map((lines) => lines.map((line) => encoder.encode(`${line}\r\n`)))

const greeting = fc.oneof(
  { weight: 6, arbitrary: fc.constant(["EHLO client.test\r\n"]) },
  { weight: 2, arbitrary: fc.constant(["LHLO client.test\r\n"]) },
  { weight: 1, arbitrary: fc.constant(["HELO client.test\r\n"]) },
  { weight: 1, arbitrary: fc.constant([]) }
)

/** What a client sends, step by step (a command, or each command of a transaction or an AUTH). */
const steps = fc
  .tuple(
    greeting.map((lines) => lines.map((line) => encoder.encode(line))),
    fc.array(
      fc.oneof(
        { weight: 4, arbitrary: command.map((c) => [c]) },
        { weight: 5, arbitrary: transaction },
        { weight: 2, arbitrary: auth },
        { weight: 1, arbitrary: notUtf8.map((c) => [c]) }
      ),
      { maxLength: 10 }
    )
  )
  .map(([first, groups]) => [...first, ...groups.flat()])

/**
 * The input as a client sends it: either one command at a time (each step its own chunk) or
 * pipelined, cut at random byte boundaries either way; maybe cut short (a disconnect).
 */
export const input = fc
  .record({
    steps,
    oneAtATime: fc.boolean(),
    cuts: fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 25 }),
    disconnectAt: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() })
  })
  .map(({ cuts, disconnectAt, oneAtATime, steps }) => {
    const all = Framer.concat(steps)
    const boundaries = oneAtATime ? steps.map((_, i) => Framer.concat(steps.slice(0, i)).length) : []
    const sent = disconnectAt === undefined ? all : all.subarray(0, disconnectAt % (all.length + 1))
    return chunked(sent, [...cuts, ...boundaries])
  })

/** The server's options: limits low enough to be reached, delays of 0. */
export const options = fc.record({
  forbidUnauthPipelining: fc.oneof(
    { weight: 1, arbitrary: fc.constant(true) },
    { weight: 2, arbitrary: fc.constant(false) }
  ),
  bareLineEndings: fc.constantFrom("normalize" as const, "reject" as const, "pass" as const),
  maxMessageSize: fc.constantFrom(0, 20, 200, 33554432),
  maxErrors: fc.integer({ min: 2, max: 20 }),
  maxRecipients: fc.integer({ min: 1, max: 3 }),
  slowErrorsAfter: fc.integer({ min: 0, max: 6 }),
  maxJunkCommands: fc.integer({ min: 0, max: 4 }),
  maxAuthFailures: fc.integer({ min: 1, max: 3 }),
  requireAuth: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  authInsecure: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  smtpUtf8: fc.boolean(),
  lmtp: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  chunking: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  dsn: fc.boolean()
})

/**
 * Which hooks the handler has (the others are absent or `acceptAll`, which the fast engine
 * skips), whether they come from its per-session form, and AUTH.
 */
export const setup = fc.record({
  connect: fc.constantFrom("none" as const, "none" as const, "none" as const, "accept" as const, "refuse" as const),
  helo: fc.boolean(),
  perSession: fc.boolean(),
  mail: fc.boolean(),
  rcpt: fc.boolean(),
  data: fc.boolean(),
  reset: fc.boolean(),
  auth: fc.boolean()
})

/** The options both engines get, but for the listener's. */
export const common = (random: OptionsValue) =>
  ({
    ...random,
    hostname: "test.invalid",
    maxLineLength: 512,
    errorDelay: 0,
    authFailureDelay: 0,
    commands: {
      XCMD: (session, argument) =>
        record("XCMD", session, argument).pipe(Effect.as(Reply.make(250, "2.0.0", argument))),
      XFAIL: (session, argument) => Effect.andThen(record("XFAIL", session, argument), new SmtpError.MailboxNotFound())
    }
  }) satisfies ServerConfig.Options

export type OptionsValue = typeof options extends fc.Arbitrary<infer A> ? A : never
export type Setup = typeof setup extends fc.Arbitrary<infer A> ? A : never

// the calls of the current run (runs are sequential)
let calls: Array<string> = []

const summary = (session: SessionInfo) => ({
  peer: formatEndpoint(session.peer),
  local: formatEndpoint(session.local),
  hostname: session.hostname,
  greeting: session.greeting,
  protocol: session.protocol,
  from: session.envelope?.mailFrom,
  mailOptions: session.envelope?.mailOptions,
  to: session.envelope?.recipients.map((r) => [r.address, r.dsn]),
  chunked: session.envelope?.chunked,
  secure: session.secure,
  auth: session.auth
})

const record = (hook: string, session: SessionInfo, detail: unknown) =>
  Effect.sync(() => {
    calls.push(JSON.stringify([hook, summary(session), detail]))
  })

// refused, a 421, a defect, or a pause, by local part
const verdict = (address: string): Effect.Effect<void, SmtpError.SmtpError> => {
  const part = address.split("@")[0]
  if (part === "refused") return Effect.fail(new SmtpError.MailboxUnavailable({ transient: true }))
  // a 421 ends the session after its reply
  if (part === "closing") return Effect.fail(new SmtpError.ServerBusy())
  if (part === "crash") return Effect.die(new Error("hook crashed"))
  if (part === "yield") return Effect.yieldNow
  return Effect.void
}

const data = (session: SessionInfo, message: Message.Message) =>
  Effect.gen(function* () {
    const behaviour = message.envelope.mailFrom.split("@")[0]
    yield* record("data", session, { behaviour, decodeData: message.decodeData })
    if (behaviour === "skip") return
    // a hook that waits: it lands after the session has let go of it
    if (behaviour === "yield") yield* Effect.yieldNow
    if (behaviour === "crash") return yield* Effect.die(new Error("data crashed"))
    const slices = yield* Stream.runCollect(behaviour === "first" ? Stream.take(message.body, 1) : message.body).pipe(
      Effect.tapError((error) => record("body failed", session, error._tag))
    )
    yield* record("body", session, slices.map(latin1))
    if (behaviour === "fail") return yield* new SmtpError.StorageError()
    if (behaviour === "closing") return yield* new SmtpError.ServerBusy()
    if (behaviour === "reply") return Reply.make(250, "2.0.0", "queued as X")
    // one verdict per recipient: refused for the b@ ones, a reply of its own for the a@ ones
    if (behaviour === "each") {
      return Verdicts.perRecipient(
        message.envelope.recipients.map(({ address }) =>
          address.startsWith("b@")
            ? new SmtpError.MailboxNotFound()
            : address.startsWith("a@")
              ? Reply.make(250, "2.1.5", `delivered to ${address}`)
              : undefined
        )
      )
    }
  })

/** The handler (and authenticator) for a run, and the calls they recorded. */
export const handler = (hooks: Setup) => {
  calls = []
  const written: MessageHandler.Hooks = {
    ...(hooks.connect !== "none" && {
      connect: (session) =>
        Effect.andThen(
          record("connect", session, null),
          hooks.connect === "refuse" ? Effect.fail(new SmtpError.ServerBusy()) : Effect.void
        )
    }),
    // "ehlo lower.test" is refused
    ...(hooks.helo && {
      helo: (session, greeting) =>
        Effect.andThen(
          record("helo", session, greeting),
          greeting.name === "lower.test" ? Effect.fail(new SmtpError.RelayDenied()) : Effect.void
        )
    }),
    ...(hooks.mail && {
      mail: (session, from, parameters) =>
        Effect.andThen(record("mail", session, [from, parameters.map(Parameters.format)]), verdict(from))
    }),
    ...(hooks.rcpt && {
      rcpt: (session, recipient) =>
        Effect.andThen(
          record("rcpt", session, [recipient.address, recipient.parameters.map(Parameters.format)]),
          verdict(recipient.address)
        )
    }),
    ...(hooks.data && { data }),
    ...(hooks.reset && { reset: (session) => record("reset", session, null) })
  }
  // the per-session form: the same hooks, made for each session, whose scope closes at its end
  const handler = MessageHandler.make(
    hooks.perSession
      ? {
          session: (session) =>
            record("session", session, null).pipe(
              Effect.andThen(Effect.addFinalizer(() => record("session end", session, null))),
              Effect.as({ ...written, mail: written.mail ?? MessageHandler.acceptAll })
            )
        }
      : written
  )
  const authenticator = Authenticator.Authenticator.of(
    Authenticator.make({
      verifyPassword: (user, password, session) =>
        Effect.as(record("authenticate", session, [user, password]), user === "alice" && password === "secret")
    })
  )
  const layer = Layer.mergeAll(
    Layer.succeed(MessageHandler.MessageHandler, handler),
    hooks.auth ? Layer.succeed(Authenticator.Authenticator, authenticator) : Layer.empty
  )
  return { layer, calls: () => calls }
}
