/**
 * Reply encoding. One iteration encodes the same reply 1,000 times (replies/s = hz × 1,000).
 * Not tests: `npm run bench:micro`.
 */
import { test } from "vitest"
import * as Reply from "./Reply.js"

const batch = 1_000
let sink = 0

const encodeBatch = (reply: Reply.Reply, enhanced: boolean) => () => {
  for (let i = 0; i < batch; i++) sink += Reply.encode(reply, enhanced).length
}

const ehlo = Reply.ehlo("mx.example.com", [
  "PIPELINING",
  "SIZE 33554432",
  "8BITMIME",
  "SMTPUTF8",
  "STARTTLS",
  "AUTH PLAIN LOGIN",
  "ENHANCEDSTATUSCODES"
])

const options = { time: 500, warmupIterations: 20 }

test("Reply.encode (replies/s = hz × 1,000)", async ({ bench }) => {
  await bench.compare(
    bench("encode ×1,000: 250 2.1.0 Ok (single line, enhanced)", encodeBatch(Reply.senderOk, true)),
    bench("encode ×1,000: 354 End data (single line, no enhanced code)", encodeBatch(Reply.startData, true)),
    bench("encode ×1,000: 250 EHLO reply (8 lines)", encodeBatch(ehlo, false)),
    bench("make + encode ×1,000: 501 5.1.3 with text (single line)", () => {
      for (let i = 0; i < batch; i++)
        sink += Reply.encode(Reply.badRecipient("Bad recipient address syntax"), true).length
    }),
    options
  )
})

export const _sink = () => sink
