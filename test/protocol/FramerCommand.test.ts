import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "fast-check"
import * as Framer from "../../src/protocol/Framer.js"
import { chunked } from "../utils/chunks.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

// frames as comparable strings; body frames of one message are joined (chunking may split them)
const frames = (input: Uint8Array, cuts: ReadonlyArray<number>, options?: Framer.Options) => {
  const framer = Framer.make(options)
  const out: Array<string> = []
  let pushed = 0
  for (const chunk of chunked(input, cuts)) {
    framer.push(chunk)
    pushed += chunk.length
    for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
      switch (frame._tag) {
        case "Line": {
          const text = decoder.decode(frame.bytes)
          out.push(frame.bareLineEnding === true ? `bare ${JSON.stringify(text)}` : `line ${text}`)
          if (text === "DATA") framer.startData()
          break
        }
        case "Body":
          if (out.at(-1)?.startsWith("body ")) out[out.length - 1] += decoder.decode(frame.bytes)
          else out.push(`body ${decoder.decode(frame.bytes)}`)
          break
        case "EndOfData":
          out.push(`end ${frame.size}`)
          break
        default:
          out.push(frame._tag)
      }
    }
  }
  return out
}

describe("Framer command mode", () => {
  it("splits lines on CRLF and on a lone LF", () => {
    expect(frames(encoder.encode("EHLO a\r\nNOOP\nQUIT\r\n"), [])).toEqual(["line EHLO a", "line NOOP", "line QUIT"])
  })

  it("under reject, ends a command line at CRLF only and marks one that holds a lone LF or CR, in any chunking", () => {
    const input = encoder.encode("RCPT TO:<a@x.example>\nRCPT TO:<b@y.example>\r\nHELO x\ry\r\n\nNOOP\r\nQUIT\r\n")
    const expected = [
      'bare "RCPT TO:<a@x.example>\\nRCPT TO:<b@y.example>"',
      'bare "HELO x\\ry"',
      'bare "\\nNOOP"',
      "line QUIT"
    ]
    expect(frames(input, [], { bareLineEndings: "reject" })).toEqual(expected)
    FastCheck.assert(
      FastCheck.property(FastCheck.array(FastCheck.nat(input.length), { maxLength: 8 }), (cuts) => {
        expect(frames(input, cuts, { bareLineEndings: "reject" })).toEqual(expected)
      }),
      { numRuns: 500 }
    )
    // the other policies keep a lone LF as a line end
    expect(frames(encoder.encode("NOOP\nQUIT\r\n"), [], { bareLineEndings: "pass" })).toEqual([
      "line NOOP",
      "line QUIT"
    ])
  })

  it("under reject, an over-long line's CRLF split between two chunks still ends it", () => {
    const long = encoder.encode(`${"X".repeat(600)}\r\nNOOP\r\n`)
    expect(frames(long, [601], { bareLineEndings: "reject", maxLineLength: 512 })).toEqual(["LineTooLong", "line NOOP"])
  })

  it("under reject, an over-long line with lone LFs in it is still one LineTooLong", () => {
    const long = `${"X\n".repeat(600)}\r\nNOOP\r\n`
    expect(frames(encoder.encode(long), [], { bareLineEndings: "reject", maxLineLength: 512 })).toEqual([
      "LineTooLong",
      "line NOOP"
    ])
  })

  it("drops an over-long line to its LF with one LineTooLong frame, holding no more than the limit", () => {
    const framer = Framer.make({ maxLineLength: 512 })
    const chunk = encoder.encode("X".repeat(10_000))
    let maxBuffered = 0
    const seen: Array<string> = []
    for (let i = 0; i < 100; i++) {
      framer.push(chunk)
      maxBuffered = Math.max(maxBuffered, framer.buffered)
      for (let f = framer.pull(); f !== undefined; f = framer.pull()) seen.push(f._tag)
    }
    framer.push(encoder.encode("tail\r\nNOOP\r\n"))
    for (let f = framer.pull(); f !== undefined; f = framer.pull()) {
      seen.push(f._tag === "Line" ? `Line ${decoder.decode(f.bytes)}` : f._tag)
    }
    expect(seen).toEqual(["LineTooLong", "Line NOOP"])
    expect(maxBuffered).toBeLessThanOrEqual(10_000)
  })

  it("counts the CRLF in the line limit", () => {
    const ok = "N".repeat(510)
    expect(frames(encoder.encode(`${ok}\r\n${ok}N\r\n`), [], { maxLineLength: 512 })).toEqual([
      `line ${ok}`,
      "LineTooLong"
    ])
  })

  it("gives the same frames for any chunking of a pipelined conversation", () => {
    const conversation = encoder.encode(
      "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" +
        "Subject: x\r\n\r\n..dot\r\n\n.\n\r.\r" +
        "y".repeat(3000) +
        "\r\n.\r\n" +
        "NOOP\r\n" +
        "Z".repeat(5000) +
        "\r\nQUIT\r\n"
    )
    const whole = frames(conversation, [], { maxLineLength: 2048 })
    const body = `Subject: x\r\n\r\n.dot\r\n\r\n\r\n\r\n.\r\n${"y".repeat(3000)}\r\n`
    expect(whole).toEqual([
      "line EHLO c",
      "line MAIL FROM:<a@b.example>",
      "line RCPT TO:<c@d.example>",
      "line DATA",
      // \n.\n\r.\r normalized: the dot after a bare LF is unstuffed, the one after a bare CR is not
      // (a bare CR does not end a line)
      `body ${body}`,
      `end ${body.length}`,
      "line NOOP",
      "LineTooLong",
      "line QUIT"
    ])
    FastCheck.assert(
      FastCheck.property(FastCheck.array(FastCheck.nat(conversation.length), { maxLength: 12 }), (cuts) => {
        expect(frames(conversation, cuts, { maxLineLength: 2048 })).toEqual(whole)
      }),
      { numRuns: 1000 }
    )
  })

  it("passes 8-bit bytes through DATA unchanged", () => {
    const framer = Framer.make()
    framer.startData()
    framer.push(new Uint8Array([0x00, 0xff, 0xe9, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a]))
    const body = framer.pull()
    expect(body?._tag === "Body" && [...body.bytes]).toEqual([0x00, 0xff, 0xe9, 0x0d, 0x0a])
    expect(framer.pull()).toEqual({ _tag: "EndOfData", size: 5 })
  })

  it("an empty message ends at once, and reset drops what is buffered", () => {
    const framer = Framer.make()
    framer.startData()
    framer.push(encoder.encode(".\r\nNOOP"))
    expect(framer.pull()).toEqual({ _tag: "EndOfData", size: 0 })
    expect(framer.buffered).toBe(4)
    framer.reset()
    expect(framer.buffered).toBe(0)
    expect(framer.pull()).toBeUndefined()
  })
})
