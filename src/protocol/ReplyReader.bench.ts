/**
 * The client's reply reader. One iteration pushes a buffer of replies and reads them all:
 * replies/s = hz × the count in the name. Not tests: `npm run bench:micro`.
 */
import { test } from "vitest"
import * as Reply from "./Reply.js"
import * as ReplyReader from "./ReplyReader.js"

const encoder = new TextEncoder()
let sink = 0

const ehlo = Reply.encode(
  Reply.ehlo("mx.example.com", [
    "PIPELINING",
    "SIZE 33554432",
    "8BITMIME",
    "SMTPUTF8",
    "STARTTLS",
    "AUTH PLAIN LOGIN",
    "ENHANCEDSTATUSCODES"
  ]),
  false
)
// what a pipelined transaction gets back: MAIL, RCPT, DATA, then the end of DATA
const transaction = ["250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"].join("")

const singles = encoder.encode(Array.from({ length: 250 }, () => transaction + "250 2.0.0 Ok: queued\r\n").join(""))
const singleChunks = Array.from({ length: 250 }, () => [
  encoder.encode(transaction),
  encoder.encode("250 2.0.0 Ok: queued\r\n")
]).flat()
const ehlos = encoder.encode(ehlo.repeat(100))

const readAll = (chunks: ReadonlyArray<Uint8Array>, expected: number) => () => {
  const reader = ReplyReader.make()
  let count = 0
  for (const chunk of chunks) {
    reader.push(chunk)
    for (let reply = reader.next(); reply !== undefined; reply = reader.next()) {
      if (!(reply instanceof Reply.Reply)) throw new Error(`malformed: ${reply.line}`)
      count++
      sink += reply.code
    }
  }
  if (count !== expected) throw new Error(`read ${count} replies`)
}

const options = { time: 500, warmupIterations: 10 }

test("ReplyReader (replies/s = hz × count)", async ({ bench }) => {
  await bench.compare(
    bench("read 1,000 single-line replies, one buffer", readAll([singles], 1_000)),
    bench("read 1,000 single-line replies, 500 pushes (3 then 1)", readAll(singleChunks, 1_000)),
    bench("read 100 EHLO replies (8 lines each), one buffer", readAll([ehlos], 100)),
    options
  )
})

export const _sink = () => sink
