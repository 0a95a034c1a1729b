import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "fast-check"
import * as DataEncoder from "../../src/protocol/DataEncoder.js"
import * as Framer from "../../src/protocol/Framer.js"
import { chunked } from "../utils/chunks.js"

const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (bytes: Uint8Array) => decoder.decode(bytes)

// Splits like chunked, but keeps empty chunks (an encoder must cope with them too).
const split = (input: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = cuts.map((c) => Math.min(c, input.length)).sort((a, b) => a - b)
  return [0, ...points].map((start, i) => input.subarray(start, points[i] ?? input.length))
}

// What the server should store: every bare CR and bare LF made CRLF, and a last line break added
// when the content did not end with one (RFC 5321 §4.5.2 has the client add it).
const normalized = (body: Uint8Array): Array<number> => {
  const out: Array<number> = []
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (c === CR && body[i + 1] === LF) {
      out.push(CR, LF)
      i++
    } else if (c === CR || c === LF) out.push(CR, LF)
    else out.push(c)
  }
  if (out.length > 0 && out[out.length - 1] !== LF) out.push(CR, LF)
  return out
}

const encodeAll = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const dataEncoder = DataEncoder.make()
  return Framer.concat([...chunks.map((chunk) => dataEncoder.encode(chunk)), dataEncoder.end()])
}

// The server's side: frames the wire in DATA mode, then reads one command line after it.
const serverReads = (wire: Uint8Array, cuts: ReadonlyArray<number>) => {
  const framer = Framer.make({ bareLineEndings: "normalize" })
  framer.startData()
  const input = Framer.concat([wire, encoder.encode("NOOP\r\n")])
  const body: Array<number> = []
  const ends: Array<{ at: number; size: number }> = []
  const after: Array<string> = []
  let pushed = 0
  for (const chunk of chunked(input, cuts)) {
    framer.push(chunk)
    pushed += chunk.length
    for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
      switch (frame._tag) {
        case "Body":
          expect(ends).toEqual([]) // no body after the end of the message
          body.push(...frame.bytes)
          break
        case "EndOfData":
          ends.push({ at: pushed - framer.buffered, size: frame.size })
          break
        case "Line":
          after.push(text(frame.bytes))
          break
        default:
          throw new Error(`unexpected ${frame._tag}`)
      }
    }
  }
  return { body, ends, after }
}

const bareLineEndingAt = (wire: Uint8Array): number => {
  for (let i = 0; i < wire.length; i++) {
    if (wire[i] === CR && wire[i + 1] !== LF) return i
    if (wire[i] === LF && wire[i - 1] !== CR) return i
  }
  return -1
}

// Biased toward the bytes that matter (CR, LF, dot) and still covering every octet.
const byte = FastCheck.oneof(
  { arbitrary: FastCheck.constantFrom(CR, LF, DOT, 0x41, 0xff), weight: 4 },
  { arbitrary: FastCheck.integer({ min: 0, max: 255 }), weight: 1 }
)
const body = FastCheck.array(byte, { maxLength: 60 }).map((bytes) => new Uint8Array(bytes))
const cuts = FastCheck.array(FastCheck.nat(70), { maxLength: 8 })

describe("DataEncoder", () => {
  it("under any chunking, the server reads back the normalized body and the end exactly at the terminator", () => {
    FastCheck.assert(
      FastCheck.property(body, cuts, cuts, (content, encodeCuts, wireCuts) => {
        const wire = encodeAll(split(content, encodeCuts))
        const got = serverReads(wire, wireCuts)
        const want = normalized(content)
        expect(got.body).toEqual(want)
        // one end, right after the last wire byte: nothing in the content ended the message early
        expect(got.ends).toEqual([{ at: wire.length, size: want.length }])
        expect(got.after).toEqual(["NOOP"])
      }),
      { numRuns: 5000 }
    )
  })

  it("never puts a bare CR or LF on the wire, and stuffs every line that begins with a dot", () => {
    FastCheck.assert(
      FastCheck.property(body, cuts, (content, encodeCuts) => {
        const wire = encodeAll(split(content, encodeCuts))
        expect(bareLineEndingAt(wire)).toBe(-1)
        const lines = text(wire).split("\r\n")
        expect(lines.pop()).toBe("") // the wire ends with CRLF
        expect(lines.pop()).toBe(".") // the terminator is the last line
        // dot-stuffed: a line that begins with a dot begins with two, so no line is "." before the end
        for (const line of lines) if (line.startsWith(".")) expect(line.startsWith("..")).toBe(true)
        // and the wire is the same however the content was split
        expect(wire).toEqual(encodeAll([content]))
      }),
      { numRuns: 3000 }
    )
  })

  it("returns the same array when nothing needs changing", () => {
    const dataEncoder = DataEncoder.make()
    const first = encoder.encode("Subject: x\r\n\r\nhello\r\n")
    const second = encoder.encode("no dot here, no line end")
    expect(dataEncoder.encode(first)).toBe(first)
    expect(dataEncoder.encode(second)).toBe(second)
    expect(text(dataEncoder.end())).toBe("\r\n.\r\n")
  })

  it("ends an empty body with a lone terminator", () => {
    expect(text(encodeAll([]))).toBe(".\r\n")
    expect(text(encodeAll([new Uint8Array(0)]))).toBe(".\r\n")
  })

  it("adds the missing line break before the terminator", () => {
    expect(text(encodeAll([encoder.encode("a")]))).toBe("a\r\n.\r\n")
    expect(text(encodeAll([encoder.encode("a\r\n")]))).toBe("a\r\n.\r\n")
    expect(text(encodeAll([encoder.encode("a\n")]))).toBe("a\r\n.\r\n")
    // a trailing CR is completed by the terminator's first byte
    expect(text(encodeAll([encoder.encode("a\r")]))).toBe("a\r\n.\r\n")
  })

  it("dot-stuffs lines that begin with a dot, at the start and after any line break", () => {
    expect(text(encodeAll([encoder.encode(".x\r\n")]))).toBe("..x\r\n.\r\n")
    expect(text(encodeAll([encoder.encode(".")]))).toBe("..\r\n.\r\n")
    expect(text(encodeAll([encoder.encode("a\r\n.\r\nb")]))).toBe("a\r\n..\r\nb\r\n.\r\n")
    expect(text(encodeAll([encoder.encode("a\n.\nb")]))).toBe("a\r\n..\r\nb\r\n.\r\n")
    expect(text(encodeAll([encoder.encode("a\r.\rb")]))).toBe("a\r\n..\r\nb\r\n.\r\n")
    // a dot inside a line is left alone
    expect(text(encodeAll([encoder.encode("a.b\r\n")]))).toBe("a.b\r\n.\r\n")
  })

  it("stuffs a dot that begins the next chunk", () => {
    expect(text(encodeAll([encoder.encode("a\r\n"), encoder.encode(".b")]))).toBe("a\r\n..b\r\n.\r\n")
    expect(text(encodeAll([encoder.encode("a\r"), encoder.encode(".b")]))).toBe("a\r\n..b\r\n.\r\n")
  })

  it("turns bare CR and bare LF into CRLF", () => {
    expect(text(encodeAll([encoder.encode("a\nb\rc\r\rd\n\ne")]))).toBe("a\r\nb\r\nc\r\n\r\nd\r\n\r\ne\r\n.\r\n")
  })

  it("keeps a CRLF split across chunks as one CRLF", () => {
    const dataEncoder = DataEncoder.make()
    const first = encoder.encode("a\r")
    const second = encoder.encode("\nb\r\n")
    expect(dataEncoder.encode(first)).toBe(first)
    expect(dataEncoder.encode(second)).toBe(second)
    expect(text(dataEncoder.end())).toBe(".\r\n")
  })

  it("completes a bare CR at the end of one chunk when the next does not begin with LF", () => {
    const dataEncoder = DataEncoder.make()
    expect(text(dataEncoder.encode(encoder.encode("a\r")))).toBe("a\r")
    expect(text(dataEncoder.encode(encoder.encode("b\r\n")))).toBe("\nb\r\n")
    expect(text(dataEncoder.end())).toBe(".\r\n")
  })

  it("starts afresh after end()", () => {
    const dataEncoder = DataEncoder.make()
    dataEncoder.encode(encoder.encode("a\r"))
    expect(text(dataEncoder.end())).toBe("\n.\r\n")
    expect(text(dataEncoder.encode(encoder.encode(".b")))).toBe("..b")
    expect(text(dataEncoder.end())).toBe("\r\n.\r\n")
    expect(text(dataEncoder.end())).toBe(".\r\n")
  })

  it("hasEightBit finds any octet over 127", () => {
    expect(DataEncoder.hasEightBit(new Uint8Array(0))).toBe(false)
    expect(DataEncoder.hasEightBit(encoder.encode("plain ASCII\r\n\x7f"))).toBe(false)
    expect(DataEncoder.hasEightBit(encoder.encode("caf\u00e9"))).toBe(true)
    expect(DataEncoder.hasEightBit(new Uint8Array([0x41, 0x80]))).toBe(true)
    FastCheck.assert(
      FastCheck.property(FastCheck.uint8Array({ maxLength: 40 }), (chunk) => {
        expect(DataEncoder.hasEightBit(chunk)).toBe(chunk.some((b) => b > 0x7f))
      })
    )
  })
})
