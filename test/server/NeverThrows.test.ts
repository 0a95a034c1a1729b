// Never throws, CI-sized (a small version of test/fuzz/fuzz.ts): the framer under any chunking,
// the command decoder on any string, and a session fed random bytes.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Result } from "effect"
import * as fc from "fast-check"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Command from "../../src/protocol/Command.js"
import * as Framer from "../../src/protocol/Framer.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import * as Sessions from "../../src/internal/Sessions.js"
import * as TestTransport from "../../src/testing/TestTransport.js"
import { chunked as splitAt } from "../utils/chunks.js"
import { text as latin1 } from "../utils/server.js"

const modes = ["normalize", "reject", "pass"] as const

// random bytes, rich in the bytes that matter to the framer
const framerBytes = fc.uint8Array({ maxLength: 300 }).chain((noise) =>
  fc
    .array(fc.constantFrom("\r", "\n", ".", "\r\n", "\r\n.\r\n", "\r\n..", "\n.\n", "x", "DATA\r\n"), {
      maxLength: 40
    })
    .map((parts) => Buffer.concat([Buffer.from(parts.join(""), "latin1"), noise]))
)

// cut points for a byte string, folded into its range so that every one cuts: the chunks it arrives in
const chunked = (bytes: Uint8Array, cuts: ReadonlyArray<number>) =>
  splitAt(
    bytes,
    cuts.map((c) => c % (bytes.length + 1))
  )

// everything the framer gives for the input, as comparable text; it switches to DATA after a
// "DATA" line, as a session would. Of a message that was aborted only the reason and the end
// are kept: how much body came out before the abort depends on the chunks (and is discarded).
const frames = (chunks: ReadonlyArray<Uint8Array>, mode: Framer.BareLineEndings, maxLineLength: number) => {
  const framer = Framer.make({ maxLineLength, maxMessageSize: 200, bareLineEndings: mode })
  const out: Array<string> = []
  const drain = () => {
    for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
      switch (frame._tag) {
        case "Line":
          // a line holds no LF, but one under `reject` marked for its lone LF or CR (refused whole)
          if (frame.bytes.includes(0x0a)) expect(frame.bareLineEnding).toBe(true)
          if (frame.bareLineEnding === true) expect(frame.bytes.includes(0x0a) || frame.bytes.includes(0x0d)).toBe(true)
          expect(frame.bytes.length + 2).toBeLessThanOrEqual(maxLineLength)
          out.push(`L:${latin1(frame.bytes)}`)
          if (latin1(frame.bytes) === "DATA") framer.startData()
          break
        case "Body":
          // bodies are joined: how they are sliced depends on the chunks
          if (out.at(-1)?.startsWith("B:")) out[out.length - 1] += latin1(frame.bytes)
          else out.push(`B:${latin1(frame.bytes)}`)
          break
        default:
          out.push(frame._tag === "Abort" ? `A:${frame.reason}` : frame._tag === "EndOfData" ? `E:${frame.size}` : "T")
      }
    }
  }
  for (const chunk of chunks) {
    framer.push(chunk)
    drain()
  }
  return out.flatMap((frame, i) => {
    if (frame.startsWith("B:") && out[i + 1]?.startsWith("A:") === true) return []
    if (frame.startsWith("E:") && out[i - 1]?.startsWith("A:") === true) return ["E"]
    return [frame]
  })
}

// a property of an Effect, each run on the test's services (it.prop takes Effect's own arbitraries)
const checkEffect = <T>(
  arbitrary: fc.Arbitrary<T>,
  property: (value: T) => Effect.Effect<void, unknown>,
  numRuns: number
) =>
  Effect.gen(function* () {
    const run = Effect.runPromiseWith(yield* Effect.context<never>())
    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(arbitrary, (value) => run(property(value))),
        { numRuns }
      )
    )
  })

describe("never throws (CI-sized)", () => {
  it("Framer: any bytes in any chunks, in every mode, give the same frames as in one chunk", () =>
    fc.assert(
      fc.property(
        fc.tuple(
          framerBytes,
          fc.array(fc.nat(), { maxLength: 8 }),
          fc.constantFrom(...modes),
          fc.constantFrom(512, 1000)
        ),
        ([bytes, cuts, mode, maxLineLength]) => {
          expect(frames(chunked(bytes, cuts), mode, maxLineLength)).toEqual(frames([bytes], mode, maxLineLength))
        }
      ),
      { numRuns: 300 }
    ))

  it("Command.decodeLine: any string is a command or a reply, never an exception", () =>
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200, unit: "binary" }),
          fc
            .constantFrom(...Command.verbs)
            .chain((verb) => fc.string({ maxLength: 100, unit: "binary" }).map((rest) => `${verb} ${rest}`))
        ),
        (line) => {
          const decoded = Command.decodeLine(line)
          if (Result.isFailure(decoded)) expect(decoded.failure.code).toBeGreaterThanOrEqual(500)
        }
      ),
      { numRuns: 500 }
    ))

  it.live("a session fed random bytes replies with well-formed lines and closes; no defect, no hang", () =>
    checkEffect(
      fc.tuple(framerBytes, fc.array(fc.nat(), { maxLength: 4 }), fc.boolean()),
      ([bytes, cuts, strict]) =>
        Effect.gen(function* () {
          const config = yield* ServerConfig.make({
            hostname: "test.invalid",
            forbidUnauthPipelining: strict,
            maxMessageSize: 100,
            errorDelay: 0,
            authFailureDelay: 0
          })
          const sessions = yield* Sessions.make(config, MessageHandler.make({}))
          const { client, transport } = yield* TestTransport.make({ startTls: true })
          const fiber = yield* Effect.forkChild(sessions.serve(transport))
          yield* client.send("EHLO fuzz.test\r\n")
          for (const chunk of chunked(bytes, cuts)) yield* client.send(chunk)
          yield* client.end
          const exit = yield* Fiber.await(fiber).pipe(Effect.timeout("2 seconds"))
          assert(Exit.isSuccess(exit), `session ended with ${String(exit)}`)
          expect(yield* client.isClosed).toBe(true)
          const output = yield* client.output
          expect(output).toMatch(/\r\n$/)
          for (const line of output.slice(0, -2).split("\r\n")) expect(line).toMatch(/^[2-5]\d\d[ -]/)
        }).pipe(Effect.scoped),
      100
    )
  )
})
