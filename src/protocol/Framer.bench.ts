/**
 * Framer throughput. One iteration of a DATA benchmark frames a whole 16 MiB message pushed in
 * 64 KiB chunks (MB/s = hz × 16.78); one iteration of a command benchmark frames 10,000 lines.
 * Not tests: `npm run bench:micro`.
 */
import { test } from "vitest"
import * as Framer from "./Framer.js"

const MiB = 1024 * 1024
const bodySize = 16 * MiB
const chunkSize = 64 * 1024
const encoder = new TextEncoder()

// a 16 MiB body of 78-octet lines; `lineEnd` ends each line, `dotEvery` dot-stuffs every nth one
const makeBody = (options: { readonly lineEnd: string; readonly dotEvery?: number }): Uint8Array => {
  const text = "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs"
  const plain = encoder.encode(text.slice(0, 78 - options.lineEnd.length) + options.lineEnd)
  const dotted = encoder.encode(".." + text.slice(0, 76 - options.lineEnd.length) + options.lineEnd)
  const body = new Uint8Array(bodySize)
  let offset = 0
  for (let n = 0; offset < bodySize; n++) {
    const line = options.dotEvery !== undefined && n % options.dotEvery === 0 ? dotted : plain
    body.set(line.subarray(0, Math.min(line.length, bodySize - offset)), offset)
    offset += line.length
  }
  // end on a line break so that ".\r\n" ends the message
  body.set(encoder.encode("\r\n"), bodySize - 2)
  return body
}

const chunksOf = (bytes: Uint8Array, size: number): ReadonlyArray<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return chunks
}

const terminator = encoder.encode(".\r\n")
let sink = 0

const frameData = (chunks: ReadonlyArray<Uint8Array>, options?: Framer.Options) => {
  const framer = Framer.make(options)
  framer.startData()
  for (const chunk of chunks) {
    framer.push(chunk)
    for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
      if (frame._tag === "Body") sink += frame.bytes.length
    }
  }
  framer.push(terminator)
  for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
    if (frame._tag === "EndOfData") return frame.size
  }
  throw new Error("no end of data")
}

const clean = chunksOf(makeBody({ lineEnd: "\r\n" }), chunkSize)
const dotted = chunksOf(makeBody({ lineEnd: "\r\n", dotEvery: 8 }), chunkSize)
const bareLf = chunksOf(makeBody({ lineEnd: "\n" }), chunkSize)

const dataOptions = { time: 500, iterations: 5, warmupIterations: 2 }

test("Framer DATA mode (MB/s = hz × 16.78)", async ({ bench }) => {
  await bench.compare(
    bench("DATA 16 MiB, 64 KiB chunks, CRLF lines", () => void frameData(clean)),
    bench("DATA 16 MiB, 64 KiB chunks, 1 line in 8 dot-stuffed", () => void frameData(dotted)),
    bench(
      "DATA 16 MiB, 64 KiB chunks, every line bare LF (normalize)",
      () => void frameData(bareLf, { bareLineEndings: "normalize" })
    ),
    bench(
      "DATA 16 MiB, 64 KiB chunks, every line bare LF (pass)",
      () => void frameData(bareLf, { bareLineEndings: "pass" })
    ),
    dataOptions
  )
})

// 10,000 typical command lines of a pipelining client
const commandLines = Array.from({ length: 10_000 }, (_, i) => {
  switch (i % 5) {
    case 0:
      return `MAIL FROM:<sender${i}@example.com> SIZE=4096\r\n`
    case 1:
      return `RCPT TO:<rcpt${i}@example.org>\r\n`
    case 2:
      return "DATA\r\n"
    case 3:
      return "RSET\r\n"
    default:
      return "NOOP\r\n"
  }
})
const linesEach = commandLines.map((line) => encoder.encode(line))
const linesOne = encoder.encode(commandLines.join(""))
const commandKiB = (linesOne.length / 1024).toFixed(0)

const frameLines = (chunks: ReadonlyArray<Uint8Array>) => {
  const framer = Framer.make()
  let lines = 0
  for (const chunk of chunks) {
    framer.push(chunk)
    for (let frame = framer.pull(); frame !== undefined; frame = framer.pull()) {
      if (frame._tag === "Line") lines++
    }
  }
  if (lines !== 10_000) throw new Error(`framed ${lines} lines`)
  sink += lines
}

const commandOptions = { time: 500, warmupIterations: 10 }

const commandGroup = `Framer command mode (lines/s = hz × 10,000; MB/s = hz × ${(linesOne.length / 1e6).toFixed(3)})`

test(commandGroup, async ({ bench }) => {
  await bench.compare(
    bench(`command 10,000 lines (${commandKiB} KiB) in one buffer`, () => frameLines([linesOne])),
    bench(`command 10,000 lines (${commandKiB} KiB), one push per line`, () => frameLines(linesEach)),
    commandOptions
  )
})

export const _sink = () => sink
