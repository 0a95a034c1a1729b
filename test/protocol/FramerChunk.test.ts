// The framer's BDAT modes: a chunk is `size` bytes as they are, counted across the chunks of a
// message; a refused chunk is dropped; neither ever holds more than the input of the moment.
import { describe, expect, it } from "@effect/vitest"
import * as Framer from "../../src/protocol/Framer.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)

const pullAll = (framer: Framer.Framer) => {
  const frames: Array<Framer.Frame> = []
  for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) frames.push(frame)
  return frames
}

describe("Framer, BDAT", () => {
  it("hands a chunk on as slices of the input, untouched, then the command after it", () => {
    const framer = Framer.make()
    const input = bytes(".a\r\n.\r\n\nb\rNOOP\r\n")
    framer.push(input)
    framer.startChunk(10, true)
    const [body, end, line] = pullAll(framer)
    expect(body).toEqual({ _tag: "Body", bytes: bytes(".a\r\n.\r\n\nb\r") })
    // a view into the input, not a copy
    expect(body?._tag === "Body" && body.bytes.buffer).toBe(input.buffer)
    expect(end).toEqual({ _tag: "EndOfChunk", size: 10 })
    expect(line?._tag === "Line" && text(line.bytes)).toBe("NOOP")
  })

  it("counts the size across the chunks of a message, and starts again with the next", () => {
    const framer = Framer.make({ maxMessageSize: 8 })
    framer.startChunk(5, true)
    framer.push(bytes("12345"))
    expect(pullAll(framer).map((f) => f._tag)).toEqual(["Body", "EndOfChunk"])
    framer.startChunk(5, false)
    framer.push(bytes("67890"))
    expect(pullAll(framer)).toEqual([
      { _tag: "Abort", reason: "MessageTooBig" },
      { _tag: "EndOfChunk", size: 10 }
    ])
    // the abort holds for the rest of the message
    framer.startChunk(2, false)
    framer.push(bytes("ab"))
    expect(pullAll(framer)).toEqual([{ _tag: "EndOfChunk", size: 12 }])
    framer.startChunk(3, true)
    framer.push(bytes("xyz"))
    expect(pullAll(framer).map((f) => f._tag)).toEqual(["Body", "EndOfChunk"])
  })

  it("past the limit, a huge chunk is only counted: nothing of it stays buffered", () => {
    const framer = Framer.make({ maxMessageSize: 100 })
    framer.startChunk(9999999999, true)
    const block = new Uint8Array(1 << 20)
    let bodies = 0
    for (let i = 0; i < 16; i++) {
      framer.push(block)
      for (const frame of pullAll(framer)) if (frame._tag === "Body") bodies++
      expect(framer.buffered).toBe(0)
    }
    expect(bodies).toBe(0)
    expect(framer.currentMode).toBe("data")
  })

  it("drops a refused chunk across pushes, then frames commands again", () => {
    const framer = Framer.make()
    framer.discard(10)
    framer.push(bytes("QUIT\r\n"))
    expect(pullAll(framer)).toEqual([])
    expect(framer.buffered).toBe(0)
    framer.push(bytes("RSETNOOP\r\n"))
    const frames = pullAll(framer)
    expect(frames.map((f) => f._tag === "Line" && text(f.bytes))).toEqual(["NOOP"])
  })

  it("BDAT 0 ends at once", () => {
    const framer = Framer.make()
    framer.startChunk(0, true)
    expect(framer.pull()).toEqual({ _tag: "EndOfChunk", size: 0 })
    expect(framer.currentMode).toBe("command")
  })
})
