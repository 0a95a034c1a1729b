import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "fast-check"
import * as Reply from "../../src/protocol/Reply.js"
import * as ReplyReader from "../../src/protocol/ReplyReader.js"
import { chunked } from "../utils/chunks.js"

const encoder = new TextEncoder()

// Everything the reader gives for the input, read after each chunk until it wants more.
const readAll = (input: string | Uint8Array, cuts: ReadonlyArray<number> = [], options?: { maxLines?: number }) => {
  const reader = ReplyReader.make(options)
  const out: Array<Reply.Reply | ReplyReader.MalformedReply> = []
  const bytes = typeof input === "string" ? encoder.encode(input) : input
  for (const chunk of chunked(bytes, cuts)) {
    reader.push(chunk)
    for (let reply = reader.next(); reply !== undefined; reply = reader.next()) {
      out.push(reply)
      if (reply instanceof ReplyReader.MalformedReply) return out
    }
  }
  return out
}

const one = (input: string, options?: { maxLines?: number }) => {
  const replies = readAll(input, [], options)
  expect(replies).toHaveLength(1)
  return replies[0]!
}

const reply = (input: string): Reply.Reply => {
  const result = one(input)
  if (!(result instanceof Reply.Reply)) throw new Error(`${JSON.stringify(input)}: ${result.line}`)
  return result
}

const malformed = (input: string, options?: { maxLines?: number }): ReplyReader.MalformedReply => {
  const result = one(input, options)
  expect(result).toBeInstanceOf(ReplyReader.MalformedReply)
  return result as ReplyReader.MalformedReply
}

const fields = (r: Reply.Reply) => ({ code: r.code, enhanced: r.enhanced, lines: r.lines })

describe("ReplyReader", () => {
  it("reads a one-line reply", () => {
    expect(fields(reply("220 mx.example ESMTP\r\n"))).toEqual({
      code: 220,
      enhanced: undefined,
      lines: ["mx.example ESMTP"]
    })
  })

  it("gathers a multi-line reply", () => {
    expect(fields(reply("250-a\r\n250-b\r\n250 c\r\n"))).toEqual({
      code: 250,
      enhanced: undefined,
      lines: ["a", "b", "c"]
    })
    expect(fields(reply("250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"))).toEqual({
      code: 250,
      enhanced: undefined,
      lines: ["mx.example", "PIPELINING", "SIZE 1000", "8BITMIME"]
    })
  })

  it("gives nothing until the last line of a reply is in", () => {
    const reader = ReplyReader.make()
    expect(reader.hasPending).toBe(false)
    reader.push(encoder.encode("250-a\r\n250 b"))
    expect(reader.next()).toBeUndefined()
    expect(reader.hasPending).toBe(true)
    reader.push(encoder.encode("\r\n"))
    const r = reader.next()
    expect(r).toBeInstanceOf(Reply.Reply)
    expect((r as Reply.Reply).lines).toEqual(["a", "b"])
    expect(reader.next()).toBeUndefined()
    expect(reader.hasPending).toBe(false)
  })

  it("parses an enhanced status code when its class matches the reply's", () => {
    expect(fields(reply("550 5.1.1 no such user\r\n"))).toEqual({
      code: 550,
      enhanced: "5.1.1",
      lines: ["no such user"]
    })
    expect(fields(reply("250 2.0.0 ok\r\n"))).toEqual({ code: 250, enhanced: "2.0.0", lines: ["ok"] })
    expect(fields(reply("452-4.5.3 too\r\n452 4.5.3 many\r\n"))).toEqual({
      code: 452,
      enhanced: "4.5.3",
      lines: ["too", "many"]
    })
    // another class is text, not a status code
    expect(fields(reply("250 5.0.0 ok\r\n"))).toEqual({ code: 250, enhanced: undefined, lines: ["5.0.0 ok"] })
    expect(fields(reply("550 2.1.1 x\r\n"))).toEqual({ code: 550, enhanced: undefined, lines: ["2.1.1 x"] })
    // and so is a dotted number that is not a whole word
    expect(fields(reply("250 2.0.0x\r\n"))).toEqual({ code: 250, enhanced: undefined, lines: ["2.0.0x"] })
  })

  it("reads a bare code with no text", () => {
    expect(fields(reply("250\r\n"))).toEqual({ code: 250, enhanced: undefined, lines: [""] })
    expect(fields(reply("250 \r\n"))).toEqual({ code: 250, enhanced: undefined, lines: [""] })
    expect(fields(reply("250-\r\n250\r\n"))).toEqual({ code: 250, enhanced: undefined, lines: ["", ""] })
  })

  it("tolerates LF-only line endings", () => {
    expect(fields(reply("250-a\n250-b\r\n250 c\n"))).toEqual({ code: 250, enhanced: undefined, lines: ["a", "b", "c"] })
  })

  it("hands pipelined replies out in order, one per next()", () => {
    const reader = ReplyReader.make()
    reader.push(encoder.encode("250 2.1.0 sender ok\r\n250-2.1.5 a\r\n250 2.1.5 b\r\n550 5.1.1 no\r\n354 go ahead\r\n"))
    const got: Array<unknown> = []
    for (let i = 0; i < 4; i++) {
      const r = reader.next()
      expect(r).toBeInstanceOf(Reply.Reply)
      got.push(fields(r as Reply.Reply))
    }
    expect(got).toEqual([
      { code: 250, enhanced: "2.1.0", lines: ["sender ok"] },
      { code: 250, enhanced: "2.1.5", lines: ["a", "b"] },
      { code: 550, enhanced: "5.1.1", lines: ["no"] },
      { code: 354, enhanced: undefined, lines: ["go ahead"] }
    ])
    expect(reader.next()).toBeUndefined()
  })

  it("reads the same replies under any chunking of the input", () => {
    const textLine = FastCheck.stringMatching(/^[A-Za-z][ -~]{0,20}$/)
    const replyArb = FastCheck.tuple(
      FastCheck.integer({ min: 2, max: 5 }),
      FastCheck.integer({ min: 0, max: 99 }),
      FastCheck.boolean(),
      FastCheck.array(FastCheck.oneof(textLine, FastCheck.constant("")), { minLength: 1, maxLength: 4 }),
      FastCheck.boolean()
    ).map(([klass, rest, withEnhanced, lines, lfOnly]) => {
      const code = klass * 100 + rest
      const enhanced = withEnhanced && klass !== 3 ? `${klass}.${rest % 8}.${rest % 5}` : undefined
      const wire = Reply.encode(Reply.make(code, enhanced, lines), true)
      return { want: { code, enhanced, lines }, wire: lfOnly ? wire.replaceAll("\r\n", "\n") : wire }
    })
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(replyArb, { minLength: 1, maxLength: 5 }),
        FastCheck.array(FastCheck.nat(400), { maxLength: 12 }),
        (replies, cuts) => {
          const input = replies.map((r) => r.wire).join("")
          const got = readAll(input, cuts)
          expect(got.every((r) => r instanceof Reply.Reply)).toBe(true)
          expect(got.map((r) => fields(r as Reply.Reply))).toEqual(replies.map((r) => r.want))
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("gives the same replies when split at every byte boundary", () => {
    const input = encoder.encode("220 mx\r\n250-mx\r\n250-SIZE 10\r\n250 2.0.0 ok\r\n550 5.1.1 no such user\n")
    const whole = readAll(input).map((r) => fields(r as Reply.Reply))
    expect(whole).toHaveLength(3)
    for (let i = 1; i < input.length; i++) {
      expect(readAll(input, [i]).map((r) => fields(r as Reply.Reply))).toEqual(whole)
    }
    const byByte = Array.from({ length: input.length }, (_, i) => i)
    expect(readAll(input, byByte).map((r) => fields(r as Reply.Reply))).toEqual(whole)
  })

  it("rejects a line without a code", () => {
    malformed("hello\r\n")
    malformed("25 x\r\n")
    malformed("2500 x\r\n")
    malformed("250x\r\n")
    malformed("150 x\r\n")
    malformed("650 x\r\n")
    malformed("\r\n")
    malformed("250-a\r\nnot a reply\r\n")
  })

  it("rejects a code that changes within a reply", () => {
    malformed("250-a\r\n251 b\r\n")
    malformed("250-a\r\n550 b\r\n")
  })

  it("rejects a line over 4096 octets, holding no more than that", () => {
    malformed(`250 ${"x".repeat(5000)}\r\n`)
    malformed(`250-a\r\n250 ${"x".repeat(5000)}\r\n`)
    // the limit counts the CRLF
    expect(fields(reply(`250 ${"x".repeat(4090)}\r\n`)).lines).toEqual(["x".repeat(4090)])
    malformed(`250 ${"x".repeat(4091)}\r\n`)
    const reader = ReplyReader.make()
    const chunk = encoder.encode("250-" + "y".repeat(1000))
    for (let i = 0; i < 100; i++) {
      reader.push(chunk)
      expect(reader.next()).toBeUndefined()
    }
    reader.push(encoder.encode("\r\n"))
    expect(reader.next()).toBeInstanceOf(ReplyReader.MalformedReply)
  })

  it("rejects a reply with more than maxLines lines", () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `250-line ${i}\r\n`).join("")
    expect(reply(`${lines(99)}250 last\r\n`).lines).toHaveLength(100)
    malformed(`${lines(100)}250 last\r\n`)
    expect(fields(one("250-a\r\n250-b\r\n250 c\r\n", { maxLines: 3 }) as Reply.Reply).lines).toEqual(["a", "b", "c"])
    malformed("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", { maxLines: 3 })
    // it does not wait for the rest of an endless reply
    const reader = ReplyReader.make({ maxLines: 3 })
    reader.push(encoder.encode("250-a\r\n250-b\r\n250-c\r\n"))
    expect(reader.next()).toBeInstanceOf(ReplyReader.MalformedReply)
  })
})
