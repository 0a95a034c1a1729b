/**
 * The client's DATA encoding (dot-stuffing, bare line endings made CRLF). One iteration encodes
 * a 16 MiB message in 64 KiB chunks and ends it (MB/s = hz × 16.78). Not tests:
 * `npm run bench:micro`.
 */
import { test } from "vitest"
import * as DataEncoder from "./DataEncoder.js"

const MiB = 1024 * 1024
const bodySize = 16 * MiB
const chunkSize = 64 * 1024
const encoder = new TextEncoder()

// a 16 MiB body of 78-octet lines ending in `lineEnd`; every `dotEvery`th line starts with a dot
const makeChunks = (lineEnd: string, dotEvery?: number): ReadonlyArray<Uint8Array> => {
  const text = "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs"
  const plain = encoder.encode(text.slice(0, 78 - lineEnd.length) + lineEnd)
  const dotted = encoder.encode("." + text.slice(0, 77 - lineEnd.length) + lineEnd)
  const body = new Uint8Array(bodySize)
  let offset = 0
  for (let n = 0; offset < bodySize; n++) {
    const line = dotEvery !== undefined && n % dotEvery === 0 ? dotted : plain
    body.set(line.subarray(0, Math.min(line.length, bodySize - offset)), offset)
    offset += line.length
  }
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bodySize; i += chunkSize) chunks.push(body.subarray(i, i + chunkSize))
  return chunks
}

let sink = 0

const encodeAll = (chunks: ReadonlyArray<Uint8Array>) => () => {
  const dataEncoder = DataEncoder.make()
  for (const chunk of chunks) sink += dataEncoder.encode(chunk).length
  sink += dataEncoder.end().length
}

const clean = makeChunks("\r\n")
const dotted = makeChunks("\r\n", 8)
const bareLf = makeChunks("\n")

const options = { time: 500, iterations: 5, warmupIterations: 2 }

test("DataEncoder (MB/s = hz × 16.78)", async ({ bench }) => {
  await bench.compare(
    bench("encode 16 MiB, 64 KiB chunks, CRLF lines (nothing to change)", encodeAll(clean)),
    bench("encode 16 MiB, 64 KiB chunks, 1 line in 8 starts with a dot", encodeAll(dotted)),
    bench("encode 16 MiB, 64 KiB chunks, every line bare LF", encodeAll(bareLf)),
    bench("hasEightBit 16 MiB, 64 KiB chunks (ASCII: scans everything)", () => {
      for (const chunk of clean) if (DataEncoder.hasEightBit(chunk)) sink++
    }),
    options
  )
})

export const _sink = () => sink
