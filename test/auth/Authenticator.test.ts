import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeStdio from "@effect/platform-node/NodeStdio"
import { afterEach, assert, describe, expect, it, vi } from "@effect/vitest"
import { Cause, Console, Effect, Exit, Layer, Option, Queue } from "effect"
import * as Command from "effect/cli/Command"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as Terminal from "effect/Terminal"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Readable } from "node:stream"
import * as Authenticator from "../../src/auth/Authenticator.js"
import * as Passwords from "../../src/auth/Passwords.js"
import * as HashPassword from "../../src/cli/HashPassword.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Sasl from "../../src/protocol/Sasl.js"

const session: SessionInfo = {
  id: "s1",
  peer: { address: "192.0.2.7", port: 40123 },
  local: { address: "192.0.2.25", port: 587 },
  hostname: "mx.example.com",
  greeting: { name: "client.example", esmtp: true },
  envelope: undefined,
  secure: true
}

// Credentials as the Sasl module produces them from a client's lines
const plain = (user: string, password: string, authzid = ""): Sasl.Credentials => {
  const step = Sasl.start("PLAIN", Buffer.from(`${authzid}\0${user}\0${password}`).toString("base64"), {
    hostname: "mx.example.com",
    nonce: "1"
  })
  assert(step._tag === "Done")
  return step.credentials
}
const login = (user: string, password: string): Sasl.Credentials => ({
  _tag: "Password",
  mechanism: "LOGIN",
  user,
  password
})
// CRAM-MD5 the way a client computes it (RFC 2195)
const cramMd5 = (user: string, password: string, nonce = "4711.1700000000"): Sasl.Credentials => {
  const first = Sasl.start("CRAM-MD5", undefined, { hostname: "mx.example.com", nonce })
  assert(first._tag === "Challenge")
  const challenge = Buffer.from(first.challenge, "base64").toString("utf8")
  const digest = Crypto.createHmac("md5", password).update(challenge).digest("hex")
  const done = first.next(Buffer.from(`${user} ${digest}`).toString("base64"))
  assert(done._tag === "Done")
  return done.credentials
}

const authenticate = (service: Authenticator.Service, credentials: Sasl.Credentials) =>
  service.authenticate(credentials, session)

const withService = <A, E, E2>(
  layer: Layer.Layer<Authenticator.Authenticator, E>,
  use: (service: Authenticator.Service) => Effect.Effect<A, E2>
) => Effect.flatMap(Authenticator.Authenticator, use).pipe(Effect.provide(layer))

const tempFile = (content: string) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-auth-"))
  const file = Path.join(dir, "users")
  Fs.writeFileSync(file, content)
  return file
}

describe("Passwords", () => {
  it.effect("hashes in the documented format and verifies", () =>
    Effect.gen(function* () {
      const hash = yield* Passwords.hash("correct horse")
      expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/)
      expect(Passwords.isHash(hash)).toBe(true)
      expect(yield* Passwords.verify("correct horse", hash)).toBe(true)
      expect(yield* Passwords.verify("correct horsE", hash)).toBe(false)
      expect(yield* Passwords.verify("", hash)).toBe(false)
      // a fresh salt each time
      expect(yield* Passwords.hash("correct horse")).not.toBe(hash)
    })
  )

  it.effect("matches a key computed independently with scrypt", () =>
    Effect.gen(function* () {
      const salt = Buffer.from("0123456789abcdef")
      const key = Crypto.scryptSync("pässword", salt, 32, { N: 1024, r: 8, p: 1 })
      const stored = `scrypt$1024$8$1$${salt.toString("base64")}$${key.toString("base64")}`
      expect(yield* Passwords.verify("pässword", stored)).toBe(true)
      expect(yield* Passwords.verify("password", stored)).toBe(false)
    })
  )

  it.effect("a tampered or damaged hash matches nothing, not even its own text", () =>
    Effect.gen(function* () {
      const hash = yield* Passwords.hash("secret")
      const fields = hash.split("$")
      const flip = (text: string) => (text[0] === "A" ? "B" : "A") + text.slice(1)
      const tampered = [
        [...fields.slice(0, 5), flip(fields[5]!)].join("$"),
        [...fields.slice(0, 4), flip(fields[4]!), fields[5]].join("$"),
        ["scrypt", "8192", ...fields.slice(2)].join("$"),
        ["scrypt", "16384", "8", "2", ...fields.slice(4)].join("$")
      ]
      for (const stored of tampered) {
        expect(Passwords.isHash(stored)).toBe(true)
        expect(yield* Passwords.verify("secret", stored)).toBe(false)
      }
      for (const damaged of [
        hash.slice(0, -2),
        `${hash}$x`,
        hash.replace("16384", "1000"),
        hash.replace("16384", "1073741824"),
        "scrypt$"
      ]) {
        expect(Passwords.isHash(damaged), damaged).toBe(false)
        expect(yield* Passwords.verify("secret", damaged)).toBe(false)
        expect(yield* Passwords.verify(damaged, damaged)).toBe(false)
      }
    })
  )

  it.effect("compares plaintext passwords", () =>
    Effect.gen(function* () {
      expect(Passwords.isHash("secret")).toBe(false)
      expect(yield* Passwords.verify("secret", "secret")).toBe(true)
      expect(yield* Passwords.verify("secre", "secret")).toBe(false)
      expect(yield* Passwords.verify("secret!", "secret")).toBe(false)
      expect(yield* Passwords.verify("", "secret")).toBe(false)
    })
  )

  it("computes CRAM-MD5 digests as RFC 2195's example", () => {
    // RFC 2195 §2
    expect(Passwords.cramMd5Digest("tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>")).toBe(
      "b913a602c7eda7a495b4e6e7334d3890"
    )
  })
})

describe("Authenticator.make", () => {
  it("offers the mechanisms its functions can check", () => {
    const yes = () => Effect.succeed(true)
    const none = () => Effect.succeed(Option.none<string>())
    expect(Authenticator.make({}).mechanisms).toEqual([])
    expect(Authenticator.make({ verifyPassword: yes }).mechanisms).toEqual(["PLAIN", "LOGIN"])
    expect(Authenticator.make({ passwordOf: none }).mechanisms).toEqual(["PLAIN", "LOGIN", "CRAM-MD5"])
    expect(Authenticator.make({ verifyToken: yes }).mechanisms).toEqual(["XOAUTH2"])
    expect(Authenticator.make({ verifyPassword: yes, passwordOf: none, verifyToken: yes }).mechanisms).toEqual([
      "PLAIN",
      "LOGIN",
      "CRAM-MD5",
      "XOAUTH2"
    ])
  })

  it.effect("asks verifyPassword with the user, password and session", () =>
    Effect.gen(function* () {
      const calls: Array<unknown> = []
      const service = Authenticator.make({
        verifyPassword: (user, password, s) =>
          Effect.sync(() => {
            calls.push([user, password, s.id])
            return user === "alice" && password === "secret"
          })
      })
      expect(yield* authenticate(service, plain("alice", "secret"))).toEqual(Option.some("alice"))
      expect(yield* authenticate(service, login("alice", "secret"))).toEqual(Option.some("alice"))
      expect(yield* authenticate(service, plain("alice", "wrong"))).toEqual(Option.none())
      expect(calls).toEqual([
        ["alice", "secret", "s1"],
        ["alice", "secret", "s1"],
        ["alice", "wrong", "s1"]
      ])
      // not offered, so refused without asking
      expect(yield* authenticate(service, cramMd5("alice", "secret"))).toEqual(Option.none())
      expect(yield* authenticate(service, { _tag: "OAuth2", user: "alice", token: "t" })).toEqual(Option.none())
      expect(calls).toHaveLength(3)
    })
  )

  it.effect("refuses a PLAIN authorization identity other than the user", () =>
    Effect.gen(function* () {
      const service = Authenticator.make({ verifyPassword: () => Effect.succeed(true) })
      expect(yield* authenticate(service, plain("alice", "secret", "bob"))).toEqual(Option.none())
      expect(yield* authenticate(service, plain("alice", "secret", "alice"))).toEqual(Option.some("alice"))
    })
  )

  it.effect("checks passwords and CRAM-MD5 digests with passwordOf", () =>
    Effect.gen(function* () {
      const service = Authenticator.make({
        passwordOf: (user) => Effect.succeed(user === "tim" ? Option.some("tanstaaftanstaaf") : Option.none())
      })
      expect(yield* authenticate(service, plain("tim", "tanstaaftanstaaf"))).toEqual(Option.some("tim"))
      expect(yield* authenticate(service, plain("tim", "tanstaaf"))).toEqual(Option.none())
      expect(yield* authenticate(service, cramMd5("tim", "tanstaaftanstaaf"))).toEqual(Option.some("tim"))
      expect(yield* authenticate(service, cramMd5("tim", "wrong"))).toEqual(Option.none())
      expect(yield* authenticate(service, cramMd5("nobody", "tanstaaftanstaaf"))).toEqual(Option.none())
      // RFC 2195 §2's own example
      const example: Sasl.Credentials = {
        _tag: "CramMd5",
        user: "tim",
        challenge: "<1896.697170952@postoffice.reston.mci.net>",
        digest: "b913a602c7eda7a495b4e6e7334d3890"
      }
      expect(yield* authenticate(service, example)).toEqual(Option.some("tim"))
      expect(yield* authenticate(service, { ...example, challenge: "<1897.697170952@postoffice>" })).toEqual(
        Option.none()
      )
      expect(yield* authenticate(service, { ...example, digest: "b913a602" })).toEqual(Option.none())
    })
  )

  it.effect("checks XOAUTH2 tokens with verifyToken", () =>
    Effect.gen(function* () {
      const service = Authenticator.make({
        verifyToken: (user, token, s) => Effect.succeed(user === "u@example.com" && token === "ya29.ok" && s.secure)
      })
      expect(yield* authenticate(service, { _tag: "OAuth2", user: "u@example.com", token: "ya29.ok" })).toEqual(
        Option.some("u@example.com")
      )
      expect(yield* authenticate(service, { _tag: "OAuth2", user: "u@example.com", token: "ya29.no" })).toEqual(
        Option.none()
      )
      expect(yield* authenticate(service, plain("u@example.com", "ya29.ok"))).toEqual(Option.none())
    })
  )
})

describe("Authenticator.fromUsers", () => {
  const layer = Authenticator.fromUsers({ alice: "secret", Bob: "hunter2" })

  it.effect("offers PLAIN, LOGIN and CRAM-MD5 and checks each", () =>
    withService(layer, (service) =>
      Effect.gen(function* () {
        expect(service.mechanisms).toEqual(["PLAIN", "LOGIN", "CRAM-MD5"])
        expect(yield* authenticate(service, plain("alice", "secret"))).toEqual(Option.some("alice"))
        expect(yield* authenticate(service, login("Bob", "hunter2"))).toEqual(Option.some("Bob"))
        expect(yield* authenticate(service, cramMd5("alice", "secret"))).toEqual(Option.some("alice"))
        expect(yield* authenticate(service, plain("alice", "hunter2"))).toEqual(Option.none())
        expect(yield* authenticate(service, cramMd5("alice", "hunter2"))).toEqual(Option.none())
        expect(yield* authenticate(service, plain("alice", "secret", "Bob"))).toEqual(Option.none())
      })
    )
  )

  it.effect("compares user names case-sensitively and knows no others", () =>
    withService(layer, (service) =>
      Effect.gen(function* () {
        expect(yield* authenticate(service, plain("Alice", "secret"))).toEqual(Option.none())
        expect(yield* authenticate(service, plain("bob", "hunter2"))).toEqual(Option.none())
        expect(yield* authenticate(service, cramMd5("mallory", "secret"))).toEqual(Option.none())
        // nothing inherited from Object.prototype is a user
        expect(yield* authenticate(service, plain("constructor", "x"))).toEqual(Option.none())
        expect(yield* authenticate(service, plain("__proto__", "x"))).toEqual(Option.none())
      })
    )
  )
})

describe("Authenticator.fromFile", () => {
  it.effect("reads plaintext and hashed users, skipping comments and blank lines", () =>
    Effect.gen(function* () {
      const hash = yield* Passwords.hash("bobs password")
      const file = tempFile(
        ["# users", "", "alice:p@ss:word with spaces", "   ", "  # indented comment", `bob:${hash}`, ""].join("\r\n")
      )
      yield* withService(Authenticator.layerFileNode(file), (service) =>
        Effect.gen(function* () {
          // one hash is enough to stop CRAM-MD5: it needs every password in plaintext
          expect(service.mechanisms).toEqual(["PLAIN", "LOGIN"])
          expect(yield* authenticate(service, plain("alice", "p@ss:word with spaces"))).toEqual(Option.some("alice"))
          expect(yield* authenticate(service, login("bob", "bobs password"))).toEqual(Option.some("bob"))
          expect(yield* authenticate(service, login("bob", "bobs passwor"))).toEqual(Option.none())
          expect(yield* authenticate(service, plain("bob", hash))).toEqual(Option.none())
          expect(yield* authenticate(service, plain("carol", "anything"))).toEqual(Option.none())
          expect(yield* authenticate(service, cramMd5("alice", "p@ss:word with spaces"))).toEqual(Option.none())
        })
      )
    })
  )

  it.effect("offers CRAM-MD5 when every password is plaintext", () =>
    Effect.gen(function* () {
      const file = tempFile("tim:tanstaaftanstaaf\nann:other\n")
      yield* withService(Authenticator.layerFileNode(file), (service) =>
        Effect.gen(function* () {
          expect(service.mechanisms).toEqual(["PLAIN", "LOGIN", "CRAM-MD5"])
          expect(yield* authenticate(service, cramMd5("tim", "tanstaaftanstaaf"))).toEqual(Option.some("tim"))
          expect(yield* authenticate(service, cramMd5("ann", "tanstaaftanstaaf"))).toEqual(Option.none())
        })
      )
    })
  )

  it.live("an unknown user costs a scrypt, like a wrong password", () =>
    Effect.gen(function* () {
      const file = tempFile(`bob:${yield* Passwords.hash("right")}\n`)
      yield* withService(Authenticator.layerFileNode(file), (service) =>
        Effect.gen(function* () {
          const time = (credentials: Sasl.Credentials) =>
            Effect.gen(function* () {
              const started = performance.now()
              for (let i = 0; i < 3; i++) expect(yield* authenticate(service, credentials)).toEqual(Option.none())
              return performance.now() - started
            })
          const wrong = yield* time(plain("bob", "wrong"))
          const unknown = yield* time(plain("nobody", "wrong"))
          // a plain map lookup would take microseconds, a scrypt tens of milliseconds
          expect(unknown).toBeGreaterThan(wrong / 4)
        })
      )
    })
  )

  const failure = (content: string) =>
    Effect.gen(function* () {
      const file = tempFile(content)
      const exit = yield* Effect.exit(Layer.build(Authenticator.layerFileNode(file)).pipe(Effect.scoped))
      assert(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert(error instanceof Authenticator.AuthFileError)
      expect(error.path).toBe(file)
      return { error, file }
    })

  it.effect("names the file and line of a malformed line, never the password", () =>
    Effect.gen(function* () {
      for (const [content, line, problem] of [
        ["alice:ok\nhunter2-without-user\n", 2, /expected user:password/],
        ["# c\n:hunter2-empty-user\n", 2, /expected user:password/],
        ["\n\nalice:\n", 3, /expected user:password/],
        [" alice:hunter2-spaced\n", 1, /white space/],
        ["alice:scrypt$16384$8$1$hunter2-damaged$\n", 1, /malformed scrypt hash/],
        ["alice:hunter2-one\nbob:x\nalice:hunter2-two\n", 3, /duplicate user "alice" \(first on line 1\)/]
      ] as const) {
        const { error, file } = yield* failure(content)
        expect(error.line).toBe(line)
        expect(error.message).toMatch(problem)
        expect(error.message.startsWith(`${file}:${line}: `)).toBe(true)
        expect(error.message).not.toMatch(/hunter2/)
        expect(JSON.stringify(error)).not.toMatch(/hunter2/)
      }
    })
  )

  it.effect("fails on a missing file", () =>
    Effect.gen(function* () {
      const path = Path.join(Os.tmpdir(), `effect-smtpd-missing-${process.pid}-${Date.now()}`)
      const error = yield* Effect.flip(Layer.build(Authenticator.layerFileNode(path)).pipe(Effect.scoped))
      expect(error).toBeInstanceOf(Authenticator.AuthFileError)
      expect(error.message).toBe(`cannot read ${path}`)
      expect(error.line).toBeUndefined()
    })
  )
})

describe("hash-password", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  const key = (name: string, input?: string): Terminal.UserInput => ({
    input: Option.fromNullishOr(input),
    key: { name, ctrl: false, meta: false, shift: false }
  })

  // a terminal that types one line per prompt and keeps what is displayed
  const fakeTerminal = (lines: ReadonlyArray<string>) => {
    const remaining = [...lines]
    const shown: Array<string> = []
    const terminal = Terminal.make({
      columns: Effect.succeed(80),
      rows: Effect.succeed(24),
      size: Effect.die("unused"),
      readLine: Effect.fail(new Terminal.QuitError({})),
      display: (text) => Effect.sync(() => void shown.push(text)),
      readInput: Effect.gen(function* () {
        const queue = yield* Queue.unbounded<Terminal.UserInput, Cause.Done>()
        const line = remaining.shift()
        if (line !== undefined) yield* Queue.offerAll(queue, [key("x", line), key("enter")])
        return queue
      })
    })
    return { terminal, shown }
  }

  const run = (stdin: Readable, lines: ReadonlyArray<string> = []) =>
    Effect.gen(function* () {
      vi.spyOn(process, "stdin", "get").mockReturnValue(stdin as typeof process.stdin)
      const logged: Array<string> = []
      const current = yield* Console.Console
      const console: Console.Console = Object.assign(Object.create(current), {
        log: (...args: ReadonlyArray<unknown>) => void logged.push(args.join(" "))
      })
      const { terminal, shown } = fakeTerminal(lines)
      // stdin is Node's (mocked above), however the command reads it: process.stdin or Stdio
      const services = Layer.mergeAll(
        NodeFileSystem.layer,
        NodePath.layer,
        NodeStdio.layer,
        Layer.succeed(Terminal.Terminal, terminal),
        Layer.succeed(
          ChildProcessSpawner.ChildProcessSpawner,
          ChildProcessSpawner.make(() => Effect.die("unused"))
        )
      )
      const exit = yield* Command.runWith(HashPassword.command, { version: "0.1.0" })([]).pipe(
        Effect.provideService(Console.Console, console),
        Effect.provide(services),
        Effect.exit
      )
      return { exit, logged, shown }
    })

  const tty = () => Object.assign(Readable.from([]), { isTTY: true })

  it.live("hashes a piped password, without its trailing newline", () =>
    Effect.gen(function* () {
      const { exit, logged } = yield* run(Readable.from(["s3cret pass", "word\n"]))
      assert(Exit.isSuccess(exit))
      expect(logged).toHaveLength(1)
      const hash = logged[0]!
      expect(Passwords.isHash(hash)).toBe(true)
      expect(yield* Passwords.verify("s3cret password", hash)).toBe(true)
      expect(yield* Passwords.verify("s3cret password\n", hash)).toBe(false)
    })
  )

  it.live("strips one newline only, and refuses an empty password", () =>
    Effect.gen(function* () {
      const twice = yield* run(Readable.from(["pw\n\n"]))
      assert(Exit.isSuccess(twice.exit))
      expect(yield* Passwords.verify("pw\n", twice.logged[0]!)).toBe(true)
      const empty = yield* run(Readable.from(["\n"]))
      expect(empty.logged).toEqual([])
      const error = yield* Effect.flip(empty.exit)
      expect(error).toMatchObject({ _tag: "UsageError", message: "the password is empty" })
    })
  )

  it.live("prompts twice on a terminal", () =>
    Effect.gen(function* () {
      const { exit, logged, shown } = yield* run(tty(), ["typed secret", "typed secret"])
      assert(Exit.isSuccess(exit))
      expect(yield* Passwords.verify("typed secret", logged[0]!)).toBe(true)
      // a password prompt does not echo what is typed
      expect(shown.join("")).toContain("Password")
      expect(shown.join("")).not.toContain("typed secret")
    })
  )

  it.live("refuses two prompts that differ", () =>
    Effect.gen(function* () {
      const { exit, logged } = yield* run(tty(), ["typed secret", "typed secreT"])
      expect(logged).toEqual([])
      expect(yield* Effect.flip(exit)).toMatchObject({ _tag: "UsageError", message: "the passwords do not match" })
    })
  )
})
