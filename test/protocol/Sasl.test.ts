import { assert, describe, expect, it } from "@effect/vitest"
import * as FastCheck from "fast-check"
import * as Reply from "../../src/protocol/Reply.js"
import * as Sasl from "../../src/protocol/Sasl.js"
import { itProp } from "../utils/property.js"

// The client's side, written independently of the module under test
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
const unb64 = (text: string) => Buffer.from(text, "base64").toString("utf8")
const bytes64 = (bytes: ReadonlyArray<number>) => Buffer.from(bytes).toString("base64")

const context = { hostname: "mx.example.com", nonce: "12345.67890" }

const challengeOf = (step: Sasl.Step) => {
  assert.strictEqual(step._tag, "Challenge", `expected a challenge, got ${JSON.stringify(step)}`)
  return step as Extract<Sasl.Step, { _tag: "Challenge" }>
}
const credentialsOf = (step: Sasl.Step) => {
  assert.strictEqual(step._tag, "Done", `expected credentials, got ${JSON.stringify(step)}`)
  return (step as Extract<Sasl.Step, { _tag: "Done" }>).credentials
}
const replyOf = (step: Sasl.Step) => {
  assert.strictEqual(step._tag, "Fail", `expected a failure, got ${JSON.stringify(step)}`)
  return (step as Extract<Sasl.Step, { _tag: "Fail" }>).reply
}

/** Answers each challenge in turn; what is left at the end is the result. */
const converse = (step: Sasl.Step, responses: ReadonlyArray<string>): Sasl.Step =>
  responses.reduce((current, response) => challengeOf(current).next(response), step)

const invalidBase64 = Reply.make(501, "5.5.2", "Invalid base64 data")

describe("Sasl", () => {
  describe("mechanisms", () => {
    it("lists all four and parses names case-insensitively", () => {
      expect(Sasl.mechanisms).toEqual(["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
      expect(Sasl.parseMechanism("plain")).toBe("PLAIN")
      expect(Sasl.parseMechanism("Login")).toBe("LOGIN")
      expect(Sasl.parseMechanism("cram-md5")).toBe("CRAM-MD5")
      expect(Sasl.parseMechanism("xoauth2")).toBe("XOAUTH2")
      expect(Sasl.parseMechanism("DIGEST-MD5")).toBeUndefined()
      expect(Sasl.parseMechanism("")).toBeUndefined()
      expect(Sasl.parseMechanism("PLAIN ")).toBeUndefined()
    })

    it("does not let Unicode case mapping forge a name", () => {
      // "ı".toUpperCase() is "I" and "ſ".toUpperCase() is "S"
      expect(Sasl.parseMechanism("plaın")).toBeUndefined()
      expect(Sasl.parseMechanism("xoauth2".replace("a", "ａ"))).toBeUndefined()
      expect(Sasl.parseMechanism("ſ")).toBeUndefined()
    })
  })

  describe("PLAIN", () => {
    it("takes the credentials from an initial response", () => {
      const step = Sasl.start("PLAIN", b64("\0alice\0secret"), context)
      expect(credentialsOf(step)).toEqual({ _tag: "Password", mechanism: "PLAIN", user: "alice", password: "secret" })
    })

    it("sends an empty challenge without an initial response", () => {
      const step = challengeOf(Sasl.start("PLAIN", undefined, context))
      expect(step.challenge).toBe("")
      expect(credentialsOf(step.next(b64("\0alice\0secret")))).toMatchObject({ user: "alice", password: "secret" })
    })

    it("treats '=' as an empty initial response, which is malformed", () => {
      expect(replyOf(Sasl.start("PLAIN", "=", context))).toMatchObject({ code: 501, enhanced: "5.5.2" })
    })

    it("keeps an authorization identity only when it differs from the user", () => {
      expect(credentialsOf(Sasl.start("PLAIN", b64("bob\0alice\0secret"), context))).toEqual({
        _tag: "Password",
        mechanism: "PLAIN",
        user: "alice",
        password: "secret",
        authorizationId: "bob"
      })
      const same = credentialsOf(Sasl.start("PLAIN", b64("alice\0alice\0secret"), context))
      expect(same).not.toHaveProperty("authorizationId")
    })

    it("keeps spaces, colons and non-ASCII text", () => {
      const step = Sasl.start("PLAIN", b64("\0jörg@exämple.com\0 pass: wörd "), context)
      expect(credentialsOf(step)).toMatchObject({ user: "jörg@exämple.com", password: " pass: wörd " })
    })

    it("refuses an empty authcid or password and a wrong number of fields", () => {
      for (const message of ["\0\0secret", "\0alice\0", "alice\0secret", "alicesecret", "\0alice\0sec\0ret", ""]) {
        const reply = replyOf(Sasl.start("PLAIN", b64(message), context))
        expect(reply.code, JSON.stringify(message)).toBe(501)
        expect(reply.enhanced).toBe("5.5.2")
      }
    })

    it("accepts fields of 255 bytes and refuses 256 (RFC 4616 §2)", () => {
      const max = "é".repeat(127) + "x" // 255 bytes in UTF-8
      const authz = "z".repeat(255)
      expect(credentialsOf(Sasl.start("PLAIN", b64(`${authz}\0${max}\0${max}`), context))).toMatchObject({
        user: max,
        password: max,
        authorizationId: authz
      })
      const over = "é".repeat(128) // 256 bytes, 128 characters
      for (const message of [`\0${over}\0secret`, `\0alice\0${over}`, `${over}\0alice\0secret`]) {
        expect(replyOf(Sasl.start("PLAIN", b64(message), context)).code).toBe(501)
      }
    })

    it("refuses text that is not UTF-8", () => {
      const reply = replyOf(Sasl.start("PLAIN", bytes64([0, 0x61, 0, 0xff, 0xfe]), context))
      expect(reply).toMatchObject({ code: 501, enhanced: "5.5.2" })
      expect(reply.lines.join(" ")).toMatch(/UTF-8/)
    })
  })

  describe("LOGIN", () => {
    it("asks for the user name and then the password", () => {
      const first = challengeOf(Sasl.start("LOGIN", undefined, context))
      expect(unb64(first.challenge)).toBe("Username:")
      const second = challengeOf(first.next(b64("alice")))
      expect(unb64(second.challenge)).toBe("Password:")
      expect(credentialsOf(second.next(b64("secret")))).toEqual({
        _tag: "Password",
        mechanism: "LOGIN",
        user: "alice",
        password: "secret"
      })
    })

    it("takes an initial response as the user name", () => {
      const step = challengeOf(Sasl.start("LOGIN", b64("alice"), context))
      expect(unb64(step.challenge)).toBe("Password:")
      expect(credentialsOf(step.next(b64("secret")))).toMatchObject({ user: "alice", password: "secret" })
    })

    it("refuses an empty user name or password", () => {
      expect(replyOf(Sasl.start("LOGIN", "=", context)).code).toBe(501)
      expect(replyOf(converse(Sasl.start("LOGIN", undefined, context), [""])).code).toBe(501)
      expect(replyOf(converse(Sasl.start("LOGIN", undefined, context), [b64("alice"), ""])).code).toBe(501)
    })

    it("answers bad base64 at either step with 501 5.5.2", () => {
      expect(replyOf(converse(Sasl.start("LOGIN", undefined, context), ["not base64!"]))).toEqual(invalidBase64)
      expect(replyOf(converse(Sasl.start("LOGIN", undefined, context), [b64("alice"), "YWJj="]))).toEqual(invalidBase64)
    })
  })

  describe("CRAM-MD5", () => {
    it("challenges with <nonce@hostname> and returns the user and digest", () => {
      const step = challengeOf(Sasl.start("CRAM-MD5", undefined, context))
      expect(unb64(step.challenge)).toBe("<12345.67890@mx.example.com>")
      const digest = "b913a602c7eda7a495b4e6e7334d3890"
      expect(credentialsOf(step.next(b64(`tim ${digest}`)))).toEqual({
        _tag: "CramMd5",
        user: "tim",
        challenge: "<12345.67890@mx.example.com>",
        digest
      })
    })

    it("takes the digest after the last space and lowers its case", () => {
      const step = challengeOf(Sasl.start("CRAM-MD5", undefined, context))
      const credentials = credentialsOf(step.next(b64("Tim Smith B913A602C7EDA7A495B4E6E7334D3890")))
      expect(credentials).toMatchObject({ user: "Tim Smith", digest: "b913a602c7eda7a495b4e6e7334d3890" })
    })

    it("refuses a malformed response", () => {
      const digest = "b913a602c7eda7a495b4e6e7334d3890"
      for (const response of [
        digest,
        ` ${digest}`,
        `tim ${digest.slice(1)}`,
        `tim ${digest}0`,
        `tim ${"g".repeat(32)}`
      ]) {
        const step = challengeOf(Sasl.start("CRAM-MD5", undefined, context))
        expect(replyOf(step.next(b64(response))), response).toMatchObject({ code: 501, enhanced: "5.5.2" })
      }
    })

    it("refuses an initial response with 501 (RFC 4954 §4)", () => {
      for (const initial of ["=", b64("tim b913a602c7eda7a495b4e6e7334d3890")]) {
        expect(replyOf(Sasl.start("CRAM-MD5", initial, context))).toMatchObject({ code: 501, enhanced: "5.5.2" })
      }
    })
  })

  describe("XOAUTH2", () => {
    const token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"

    it("takes user and bearer token from an initial response", () => {
      const step = Sasl.start("XOAUTH2", b64(`user=someuser@example.com\x01auth=Bearer ${token}\x01\x01`), context)
      expect(credentialsOf(step)).toEqual({ _tag: "OAuth2", user: "someuser@example.com", token })
    })

    it("sends an empty challenge without an initial response", () => {
      const step = challengeOf(Sasl.start("XOAUTH2", undefined, context))
      expect(step.challenge).toBe("")
      expect(credentialsOf(step.next(b64(`user=u\x01auth=bearer ${token}\x01\x01`)))).toEqual({
        _tag: "OAuth2",
        user: "u",
        token
      })
    })

    it("refuses malformed responses", () => {
      for (const text of [
        `user=u\x01auth=Bearer ${token}\x01`,
        `user=u\x01auth=Basic ${token}\x01\x01`,
        `user=u\x01auth=Bearer \x01\x01`,
        `auth=Bearer ${token}\x01\x01`,
        `user=\x01auth=Bearer ${token}\x01\x01`,
        `user=u\x01user=v\x01auth=Bearer ${token}\x01\x01`,
        `user=u\x01noequals\x01auth=Bearer ${token}\x01\x01`,
        ""
      ]) {
        const reply = replyOf(Sasl.start("XOAUTH2", text === "" ? "=" : b64(text), context))
        expect(reply, JSON.stringify(text)).toMatchObject({ code: 501, enhanced: "5.5.2" })
      }
    })
  })

  describe("base64", () => {
    it("answers anything that is not base64 with exactly 501 5.5.2 Invalid base64 data", () => {
      for (const response of ["abc", "a===", "YW Jj", "YWJj!", "====", "*", "YQ=a"]) {
        expect(replyOf(Sasl.start("PLAIN", response, context)), response).toEqual(invalidBase64)
        expect(replyOf(Sasl.start("LOGIN", response, context)), response).toEqual(invalidBase64)
        expect(replyOf(Sasl.start("XOAUTH2", response, context)), response).toEqual(invalidBase64)
        expect(replyOf(challengeOf(Sasl.start("PLAIN", undefined, context)).next(response)), response).toEqual(
          invalidBase64
        )
        expect(replyOf(challengeOf(Sasl.start("CRAM-MD5", undefined, context)).next(response)), response).toEqual(
          invalidBase64
        )
      }
    })
  })

  describe("round trip", () => {
    const text = (maxLength: number) =>
      FastCheck.string({ unit: "binary", minLength: 1, maxLength }).filter(
        (s) => !s.includes("\0") && Buffer.byteLength(s) <= 255
      )
    const clientSide = FastCheck.oneof(
      FastCheck.record({
        kind: FastCheck.constant("PLAIN" as const),
        user: text(60),
        password: text(60),
        authzid: FastCheck.option(text(20), { nil: undefined }),
        initial: FastCheck.boolean()
      }),
      FastCheck.record({
        kind: FastCheck.constant("LOGIN" as const),
        user: text(60),
        password: text(60),
        initial: FastCheck.boolean()
      }),
      FastCheck.record({
        kind: FastCheck.constant("CRAM-MD5" as const),
        user: text(60),
        digest: FastCheck.stringMatching(/^[0-9a-f]{32}$/),
        nonce: FastCheck.stringMatching(/^[0-9]{1,10}\.[0-9]{1,10}$/)
      }),
      FastCheck.record({
        kind: FastCheck.constant("XOAUTH2" as const),
        user: text(60).filter((s) => !s.includes("\x01")),
        token: FastCheck.stringMatching(/^[A-Za-z0-9._~+/-]+=*$/),
        initial: FastCheck.boolean()
      })
    )

    itProp("credentials encoded by a client decode back", [clientSide], ([client]) => {
      switch (client.kind) {
        case "PLAIN": {
          const message = b64(`${client.authzid ?? ""}\0${client.user}\0${client.password}`)
          const step = client.initial
            ? Sasl.start("PLAIN", message, context)
            : converse(Sasl.start("PLAIN", undefined, context), [message])
          const expected = {
            _tag: "Password",
            mechanism: "PLAIN",
            user: client.user,
            password: client.password,
            ...(client.authzid !== undefined && client.authzid !== client.user
              ? { authorizationId: client.authzid }
              : {})
          }
          expect(credentialsOf(step)).toEqual(expected)
          break
        }
        case "LOGIN": {
          const step = client.initial
            ? converse(Sasl.start("LOGIN", b64(client.user), context), [b64(client.password)])
            : converse(Sasl.start("LOGIN", undefined, context), [b64(client.user), b64(client.password)])
          expect(credentialsOf(step)).toEqual({
            _tag: "Password",
            mechanism: "LOGIN",
            user: client.user,
            password: client.password
          })
          break
        }
        case "CRAM-MD5": {
          const first = challengeOf(Sasl.start("CRAM-MD5", undefined, { hostname: "h.example", nonce: client.nonce }))
          const challenge = unb64(first.challenge)
          expect(challenge).toBe(`<${client.nonce}@h.example>`)
          expect(credentialsOf(first.next(b64(`${client.user} ${client.digest}`)))).toEqual({
            _tag: "CramMd5",
            user: client.user,
            challenge,
            digest: client.digest.toLowerCase()
          })
          break
        }
        case "XOAUTH2": {
          const message = b64(`user=${client.user}\x01auth=Bearer ${client.token}\x01\x01`)
          const step = client.initial
            ? Sasl.start("XOAUTH2", message, context)
            : converse(Sasl.start("XOAUTH2", undefined, context), [message])
          expect(credentialsOf(step)).toEqual({ _tag: "OAuth2", user: client.user, token: client.token })
          break
        }
      }
    })
  })
})
