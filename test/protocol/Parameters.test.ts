// Parameters: which MAIL and RCPT parameters are accepted for what the server offers — DSN's
// RET, ENVID, NOTIFY, ORCPT (RFC 3461) and BODY=BINARYMIME (RFC 3030 §3) — and their replies.
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import * as Parameters from "../../src/protocol/Parameters.js"
import type * as Reply from "../../src/protocol/Reply.js"

const offered: Parameters.Offered = {
  eightBitMime: true,
  smtpUtf8: true,
  maxMessageSize: 1000,
  chunking: true,
  dsn: true,
  auth: false
}

// "KEY=value KEY" as the command codec parses it
const params = (text: string): Parameters.Parameters => Parameters.parse(text)!

const reply = (result: Result.Result<unknown, Reply.Reply>): string =>
  Result.isSuccess(result) ? "ok" : `${result.failure.code} ${result.failure.enhanced} ${result.failure.lines.join()}`

const mail = (text: string, over: Partial<Parameters.Offered> = {}) =>
  Parameters.checkMail(params(text), { ...offered, ...over })

const rcpt = (text: string, dsn = true) => Parameters.checkRcpt(params(text), { dsn })

describe("checkMail: DSN", () => {
  it("gives RET and ENVID in the options when DSN is offered", () => {
    expect(mail("SIZE=10 RET=hdrs ENVID=id+2B1")).toEqual(
      Result.succeed({ size: 10, body: undefined, smtpUtf8: false, ret: "HDRS", envid: "id+1" })
    )
    expect(mail("")).toEqual(
      Result.succeed({ size: undefined, body: undefined, smtpUtf8: false, ret: undefined, envid: undefined })
    )
  })

  it("answers 555 to RET and ENVID when DSN is not offered", () => {
    expect(reply(mail("RET=FULL", { dsn: false }))).toBe("555 5.5.4 Parameter RET not recognized")
    expect(reply(mail("ENVID=x", { dsn: false }))).toBe("555 5.5.4 Parameter ENVID not recognized")
  })

  it("answers 501 to bad values and to a parameter given twice", () => {
    expect(reply(mail("RET=NONE"))).toBe("501 5.5.4 Invalid RET value")
    expect(reply(mail("ENVID=a+2"))).toBe("501 5.5.4 Invalid ENVID value")
    expect(reply(mail("RET=FULL ret=HDRS"))).toBe("501 5.5.4 Duplicate parameter RET")
    expect(reply(mail("ENVID=a ENVID=a"))).toBe("501 5.5.4 Duplicate parameter ENVID")
  })

  it("still answers 555 to an unknown parameter beside DSN's", () => {
    expect(reply(mail("RET=FULL XFOO=1"))).toBe("555 5.5.4 Parameter XFOO not recognized")
    // NOTIFY belongs to RCPT
    expect(reply(mail("NOTIFY=NEVER"))).toBe("555 5.5.4 Parameter NOTIFY not recognized")
  })
})

describe("checkMail: BODY", () => {
  it("takes BINARYMIME, any case, when CHUNKING is offered", () => {
    expect(Result.getOrThrow(mail("BODY=binarymime")).body).toBe("BINARYMIME")
    expect(Result.getOrThrow(mail("BODY=8bitmime")).body).toBe("8BITMIME")
    expect(Result.getOrThrow(mail("BODY=7BIT", { chunking: false })).body).toBe("7BIT")
  })

  it("refuses BINARYMIME without CHUNKING as any unknown body type", () => {
    expect(reply(mail("BODY=BINARYMIME", { chunking: false }))).toBe("501 5.5.4 BODY must be 7BIT or 8BITMIME")
    expect(reply(mail("BODY=QUOTED", { chunking: false }))).toBe("501 5.5.4 BODY must be 7BIT or 8BITMIME")
    expect(reply(mail("BODY=QUOTED"))).toBe("501 5.5.4 BODY must be 7BIT, 8BITMIME or BINARYMIME")
    expect(reply(mail("BODY"))).toBe("501 5.5.4 BODY must be 7BIT, 8BITMIME or BINARYMIME")
    // no BODY at all without 8BITMIME
    expect(reply(mail("BODY=BINARYMIME", { eightBitMime: false }))).toBe("555 5.5.4 Parameter BODY not recognized")
  })
})

describe("checkRcpt", () => {
  it("gives undefined when the client asked for nothing", () => {
    expect(rcpt("")).toEqual(Result.succeed(undefined))
    expect(rcpt("", false)).toEqual(Result.succeed(undefined))
  })

  it("gives NOTIFY and ORCPT when DSN is offered", () => {
    expect(rcpt("NOTIFY=success,delay ORCPT=rfc822;b+2Bx@example.com")).toEqual(
      Result.succeed({ notify: ["SUCCESS", "DELAY"], orcpt: { addressType: "rfc822", address: "b+x@example.com" } })
    )
    expect(rcpt("NOTIFY=NEVER")).toEqual(Result.succeed({ notify: "NEVER", orcpt: undefined }))
    expect(rcpt("orcpt=rfc822;a@b")).toEqual(
      Result.succeed({ notify: undefined, orcpt: { addressType: "rfc822", address: "a@b" } })
    )
  })

  it("answers 555 to NOTIFY and ORCPT without DSN, and to unknown parameters", () => {
    expect(reply(rcpt("NOTIFY=NEVER", false))).toBe("555 5.5.4 Parameter NOTIFY not recognized")
    expect(reply(rcpt("ORCPT=rfc822;a@b", false))).toBe("555 5.5.4 Parameter ORCPT not recognized")
    expect(reply(rcpt("NOTIFY=NEVER XFOO"))).toBe("555 5.5.4 Parameter XFOO not recognized")
    expect(reply(rcpt("RET=FULL"))).toBe("555 5.5.4 Parameter RET not recognized")
  })

  it("answers 501 to bad values and duplicates", () => {
    expect(reply(rcpt("NOTIFY=NEVER,SUCCESS"))).toBe("501 5.5.4 Invalid NOTIFY value")
    expect(reply(rcpt("ORCPT=a@b"))).toBe("501 5.5.4 Invalid ORCPT value")
    expect(reply(rcpt("NOTIFY=NEVER notify=NEVER"))).toBe("501 5.5.4 Duplicate parameter NOTIFY")
    expect(reply(rcpt("XFOO XFOO"))).toBe("501 5.5.4 Duplicate parameter XFOO")
  })
})
