// Dsn: xtext both ways, and the checks of RET, ENVID, NOTIFY and ORCPT (RFC 3461) with the
// 501 5.5.4 a bad value gets.
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import * as FastCheck from "fast-check"
import * as Dsn from "../../src/protocol/Dsn.js"
import type * as Reply from "../../src/protocol/Reply.js"

const ok = <A>(result: Result.Result<A, Reply.Reply>): A => {
  if (Result.isFailure(result)) throw new Error(`expected success, got ${result.failure.code} ${result.failure.lines}`)
  return result.success
}

// "code enhanced text" of a failure, or "ok"
const reply = (result: Result.Result<unknown, Reply.Reply>): string =>
  Result.isSuccess(result) ? "ok" : `${result.failure.code} ${result.failure.enhanced} ${result.failure.lines.join()}`

describe("xtext", () => {
  it("decodes xchars and +XX, the octets as UTF-8", () => {
    expect(Dsn.decodeXtext("")).toBe("")
    expect(Dsn.decodeXtext("a@b.example")).toBe("a@b.example")
    expect(Dsn.decodeXtext("a+2Bb+3Dc")).toBe("a+b=c")
    expect(Dsn.decodeXtext("+20+7E+21")).toBe(" ~!")
    expect(Dsn.decodeXtext("caf+C3+A9")).toBe("café")
    expect(Dsn.decodeXtext("!~")).toBe("!~")
  })

  it("refuses what is not xtext", () => {
    for (const bad of [
      "a=b",
      "a b",
      "a\tb",
      "\x7f",
      "\x20",
      "é",
      "+",
      "+2",
      "+2b",
      "+ab",
      "+G0",
      "a+",
      "+2G",
      "++2B"
    ]) {
      expect(Dsn.decodeXtext(bad), JSON.stringify(bad)).toBeUndefined()
    }
    // octets that are not UTF-8
    expect(Dsn.decodeXtext("+FF")).toBeUndefined()
    expect(Dsn.decodeXtext("+C3")).toBeUndefined()
  })

  it("encodes +, =, controls, space and non-ASCII, and nothing else", () => {
    expect(Dsn.encodeXtext("a+b=c d")).toBe("a+2Bb+3Dc+20d")
    expect(Dsn.encodeXtext("café\r\n")).toBe("caf+C3+A9+0D+0A")
    expect(Dsn.encodeXtext("!~<>@")).toBe("!~<>@")
    expect(Dsn.encodeXtext("\x7f")).toBe("+7F")
  })

  it("decodes what it encodes, and the encoding is xtext", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.string({ unit: "binary" }), (text) => {
        const encoded = Dsn.encodeXtext(text)
        expect(encoded).toMatch(/^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/)
        // lone surrogates do not survive UTF-8: compare with what TextEncoder made of them
        expect(Dsn.decodeXtext(encoded)).toBe(new TextDecoder().decode(new TextEncoder().encode(text)))
      })
    )
  })
})

describe("MAIL: RET and ENVID", () => {
  it("takes RET in any case, normalised upper, and ENVID decoded", () => {
    expect(ok(Dsn.mail([]))).toEqual({ ret: undefined, envid: undefined })
    expect(ok(Dsn.mail([{ keyword: "RET", value: "hdrs" }]))).toEqual({ ret: "HDRS", envid: undefined })
    expect(ok(Dsn.mail([{ keyword: "RET", value: "Full" }])).ret).toBe("FULL")
    expect(ok(Dsn.mail([{ keyword: "ENVID", value: "QQ314159+2Bx" }])).envid).toBe("QQ314159+x")
    // ENVID is case-sensitive: kept as given
    expect(ok(Dsn.mail([{ keyword: "ENVID", value: "aBc" }])).envid).toBe("aBc")
  })

  it("looks only at its own keywords", () => {
    const parameters = [{ keyword: "SIZE", value: "x" }, { keyword: "NOTIFY", value: "bad" }, { keyword: "BODY" }]
    expect(ok(Dsn.mail(parameters))).toEqual({ ret: undefined, envid: undefined })
  })

  it("gives 501 5.5.4 for bad values", () => {
    for (const value of [undefined, "", "NONE", "FULL,HDRS", "HDRS "]) {
      expect(reply(Dsn.mail([{ keyword: "RET", value }])), String(value)).toBe("501 5.5.4 Invalid RET value")
    }
    for (const value of [undefined, "", "a=b", "+4", "+0A", "caf+C3+A9", "x".repeat(101), "+41".repeat(101)]) {
      expect(reply(Dsn.mail([{ keyword: "ENVID", value }])), String(value)).toBe("501 5.5.4 Invalid ENVID value")
    }
  })

  it("counts ENVID's 100 characters after decoding", () => {
    expect(ok(Dsn.mail([{ keyword: "ENVID", value: "x".repeat(100) }])).envid).toHaveLength(100)
    expect(ok(Dsn.mail([{ keyword: "ENVID", value: "+41".repeat(100) }])).envid).toBe("A".repeat(100))
    // a decoded space is printable US-ASCII
    expect(ok(Dsn.mail([{ keyword: "ENVID", value: "a+20b" }])).envid).toBe("a b")
  })

  it("refuses a keyword twice", () => {
    expect(
      reply(
        Dsn.mail([
          { keyword: "RET", value: "FULL" },
          { keyword: "RET", value: "FULL" }
        ])
      )
    ).toBe("501 5.5.4 Duplicate parameter RET")
    expect(
      reply(
        Dsn.mail([
          { keyword: "ENVID", value: "a" },
          { keyword: "ENVID", value: "b" }
        ])
      )
    ).toBe("501 5.5.4 Duplicate parameter ENVID")
  })
})

describe("RCPT: NOTIFY and ORCPT", () => {
  const notify = (value: string | undefined) => Dsn.rcpt([{ keyword: "NOTIFY", value }])
  const orcpt = (value: string | undefined) => Dsn.rcpt([{ keyword: "ORCPT", value }])

  it("takes NEVER or a list, in any case, normalised upper and in the client's order", () => {
    expect(ok(notify("never")).notify).toBe("NEVER")
    expect(ok(notify("SUCCESS")).notify).toEqual(["SUCCESS"])
    expect(ok(notify("delay,Failure,success")).notify).toEqual(["DELAY", "FAILURE", "SUCCESS"])
    expect(ok(Dsn.rcpt([]))).toEqual({ notify: undefined, orcpt: undefined })
  })

  it("refuses NEVER with others, a keyword twice in the list, and anything else", () => {
    for (const value of [
      undefined,
      "",
      "NEVER,SUCCESS",
      "SUCCESS,NEVER",
      "NEVER,NEVER",
      "SUCCESS,SUCCESS",
      "FAILURE,DELAY,failure",
      "SUCCESS,",
      ",SUCCESS",
      "SUCCESS, FAILURE",
      "ALWAYS"
    ]) {
      expect(reply(notify(value)), String(value)).toBe("501 5.5.4 Invalid NOTIFY value")
    }
  })

  it("takes ORCPT with its type as given and its address decoded", () => {
    expect(ok(orcpt("rfc822;a+2Bb@example.com")).orcpt).toEqual({ addressType: "rfc822", address: "a+b@example.com" })
    expect(ok(orcpt("RFC822;x@y")).orcpt).toEqual({ addressType: "RFC822", address: "x@y" })
    expect(ok(orcpt("x400;/C+3Dus/;")).orcpt).toEqual({ addressType: "x400", address: "/C=us/;" })
  })

  it("decodes utf-8 addresses per RFC 6533 (\\x{HEX}, raw UTF-8)", () => {
    expect(ok(orcpt("utf-8;caf\\x{E9}@example.com")).orcpt).toEqual({
      addressType: "utf-8",
      address: "café@example.com"
    })
    expect(ok(orcpt("UTF-8;Dörte@example.com")).orcpt?.address).toBe("Dörte@example.com")
    expect(ok(orcpt("utf-8;a\\x{2B}b\\x{1F600}")).orcpt?.address).toBe("a+b\u{1F600}")
    for (const bad of ["utf-8;a+2Bb", "utf-8;a\\b", "utf-8;\\x{e9}", "utf-8;\\x{110000}", "utf-8;\\x{D800}"]) {
      expect(reply(orcpt(bad)), bad).toBe("501 5.5.4 Invalid ORCPT value")
    }
  })

  it("refuses a missing type or address, a bad type, bad xtext and non-printable addresses", () => {
    for (const value of [
      undefined,
      "",
      "a@b",
      ";a@b",
      "rfc822;",
      "rfc 822;a@b",
      "rfc822(x);a@b",
      "rfc822;a=b",
      "rfc822;a+2b",
      "rfc822;a+00b",
      "rfc822;caf+C3+A9"
    ]) {
      expect(reply(orcpt(value)), String(value)).toBe("501 5.5.4 Invalid ORCPT value")
    }
  })

  it("refuses a keyword twice and looks only at its own keywords", () => {
    expect(
      reply(
        Dsn.rcpt([
          { keyword: "NOTIFY", value: "NEVER" },
          { keyword: "NOTIFY", value: "NEVER" }
        ])
      )
    ).toBe("501 5.5.4 Duplicate parameter NOTIFY")
    expect(
      reply(
        Dsn.rcpt([
          { keyword: "ORCPT", value: "rfc822;a" },
          { keyword: "ORCPT", value: "rfc822;b" }
        ])
      )
    ).toBe("501 5.5.4 Duplicate parameter ORCPT")
    expect(
      ok(
        Dsn.rcpt([
          { keyword: "RET", value: "bad" },
          { keyword: "NOTIFY", value: "FAILURE" }
        ])
      )
    ).toEqual({
      notify: ["FAILURE"],
      orcpt: undefined
    })
  })
})
