/**
 * Command decoding. One iteration decodes the same line 1,000 times (commands/s = hz × 1,000):
 * the per-call cost is too small for the benchmark's clock otherwise. Not tests:
 * `npm run bench:micro`.
 */
import * as Result from "effect/Result"
import { test } from "vitest"
import * as Command from "./Command.js"

const batch = 1_000
let sink = 0

const decodeBatch = (line: string, ok: boolean) => () => {
  for (let i = 0; i < batch; i++) {
    const decoded = Command.decodeLine(line)
    if (Result.isSuccess(decoded) !== ok) throw new Error(`unexpected result for ${line}`)
    sink += decoded._tag.length
  }
}

const options = { time: 300, warmupIterations: 20 }

// lines that `fastDecode` accepts without the Schema interpreter
const fastPath: ReadonlyArray<string> = [
  "EHLO client.example.com",
  "MAIL FROM:<sender@example.com>",
  "MAIL FROM:<sender@example.com> SIZE=4096 BODY=8BITMIME",
  "RCPT TO:<recipient@example.org>",
  "DATA",
  "RSET",
  "NOOP"
]

test("Command.decodeLine, fast path (commands/s = hz × 1,000)", async ({ bench }) => {
  const benches = fastPath.map((line) => bench(`decodeLine ×1,000: ${line}`, decodeBatch(line, true)))
  await bench.compare(...benches, options)
})

// lines that fall through to the Schema decode: commands without a fast check, and failures,
// whose reply is worded from the schema's issue
const schemaPath: ReadonlyArray<readonly [string, boolean]> = [
  ["VRFY postmaster", true],
  ["AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", true],
  ["HELP MAIL", true],
  ["RCPT TO:<not an address>", false],
  ["XYZZY plugh", false]
]

test("Command.decodeLine, schema path (commands/s = hz × 1,000)", async ({ bench }) => {
  const benches = schemaPath.map(([line, ok]) => bench(`decodeLine ×1,000: ${line}`, decodeBatch(line, ok)))
  await bench.compare(...benches, options)
})

export const _sink = () => sink
