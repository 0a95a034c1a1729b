import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "fast-check"
import * as Framer from "../../src/protocol/Framer.js"
import { chunked } from "../utils/chunks.js"

// DATA framing checked against a byte-at-a-time reference model of RFC 5321 §4.5.2 and the
// bare line ending policies, under random chunking of the input.
type Policy = Framer.BareLineEndings
const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e

const reference = (input: Uint8Array, policy: Policy) => {
  const body: Array<number> = []
  let i = 0
  let sol = true
  let solAfterCrlf = true
  let aborted = false
  while (i < input.length) {
    // only CRLF . CRLF ends the message
    if (sol && solAfterCrlf && input[i] === DOT && input[i + 1] === CR && input[i + 2] === LF) {
      return { body, end: i + 3, aborted }
    }
    if (sol && input[i] === DOT) {
      i++
      sol = false
      continue
    }
    sol = false
    const c = input[i]!
    if (c === CR && input[i + 1] === LF) {
      body.push(CR, LF)
      i += 2
      sol = solAfterCrlf = true
    } else if (c === CR || c === LF) {
      if (policy === "reject") aborted = true
      body.push(...(policy === "normalize" ? [CR, LF] : [c]))
      i++
      if (c === LF) {
        sol = true
        solAfterCrlf = false
      }
    } else {
      body.push(c)
      i++
    }
  }
  return { body, end: -1, aborted }
}

const viaFramer = (input: Uint8Array, cuts: ReadonlyArray<number>, policy: Policy) => {
  const framer = Framer.make({ bareLineEndings: policy })
  framer.startData()
  const body: Array<number> = []
  let aborted = false
  let pushed = 0
  for (const chunk of chunked(input, cuts)) {
    framer.push(chunk)
    pushed += chunk.length
    for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
      switch (frame._tag) {
        case "Body":
          expect(aborted).toBe(false) // no body after an abort
          body.push(...frame.bytes)
          break
        case "Abort":
          aborted = true
          break
        case "EndOfData":
          return { body, aborted, size: frame.size, end: pushed - framer.buffered, mode: framer.currentMode }
        default:
          throw new Error(`unexpected ${frame._tag} in DATA`)
      }
    }
  }
  return { body, aborted, size: -1, end: -1, mode: framer.currentMode }
}

const bytes = FastCheck.array(FastCheck.constantFrom(CR, LF, DOT, 0x41, 0x20, 0xff, 0x00), { maxLength: 40 })

describe("Framer DATA against a reference model", () => {
  for (const policy of ["normalize", "reject", "pass"] as const) {
    it(`${policy}: same body, abort and end under any chunking`, () => {
      FastCheck.assert(
        FastCheck.property(bytes, FastCheck.array(FastCheck.nat(50), { maxLength: 6 }), (content, cuts) => {
          const input = new Uint8Array([...content, CR, LF, DOT, CR, LF, 0x51, 0x55])
          const want = reference(input, policy)
          const got = viaFramer(input, cuts, policy)
          expect(got.aborted).toBe(want.aborted)
          if (!want.aborted) {
            expect(got.body).toEqual(want.body)
            expect(got.size).toBe(want.body.length)
          }
          expect(got.end).toBe(want.end)
          expect(got.mode).toBe("command")
        }),
        { numRuns: 3000 }
      )
    })
  }
})
