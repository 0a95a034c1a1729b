/**
 * `Protocol.step` over a whole transaction's command frames, taking every handler decision as
 * accepted (as the Sink handler does). steps/s = hz × the steps in the name. Not tests:
 * `npm run bench:micro`.
 */
import { test } from "vitest"
import * as Framer from "./Framer.js"
import * as Protocol from "./Protocol.js"
import * as Session from "./Session.js"

type LineFrame = Extract<Framer.Frame, { _tag: "Line" }>
const encoder = new TextEncoder()
const frames = (lines: ReadonlyArray<string>): ReadonlyArray<LineFrame> =>
  lines.map((line) => ({ _tag: "Line", bytes: encoder.encode(line) }))

const config = Protocol.makeConfig({ hostname: "mx.example.com" })
let sink = 0

// the server's side of the session for these frames: the state after each decision
const run = (session: ReadonlyArray<LineFrame>) => () => {
  let state = Session.initial
  for (const frame of session) {
    const decision = Protocol.step(config, state, frame)
    switch (decision._tag) {
      case "Mail":
      case "Rcpt":
        state = decision.accepted
        break
      case "Data":
        // the body goes through the framer; after the reply to it the transaction is over
        state = Session.reset(decision.state)
        break
      case "Reply":
      case "Close":
        state = decision.state
        sink += decision.reply.code
        break
      default:
        throw new Error(`unexpected ${decision._tag}`)
    }
  }
  sink += state.errors
}

const one = frames([
  "EHLO client.example.com",
  "MAIL FROM:<sender@example.com>",
  "RCPT TO:<rcpt@example.org>",
  "DATA",
  "QUIT"
])
const tenRecipients = frames([
  "EHLO client.example.com",
  "MAIL FROM:<sender@example.com> SIZE=4096 BODY=8BITMIME",
  ...Array.from({ length: 10 }, (_, i) => `RCPT TO:<rcpt${i}@example.org>`),
  "DATA",
  "QUIT"
])
const ten = frames([
  "EHLO client.example.com",
  ...Array.from({ length: 10 }, () => ["MAIL FROM:<sender@example.com>", "RCPT TO:<rcpt@example.org>", "DATA"]).flat(),
  "QUIT"
])

const options = { time: 500, warmupIterations: 20 }

test("Protocol.step (steps/s = hz × steps)", async ({ bench }) => {
  await bench.compare(
    bench("session EHLO, MAIL, RCPT, DATA, QUIT (5 steps)", run(one)),
    bench("session EHLO, MAIL with SIZE and BODY, 10 RCPT, DATA, QUIT (14 steps)", run(tenRecipients)),
    bench("session EHLO, 10 × (MAIL, RCPT, DATA), QUIT (32 steps)", run(ten)),
    options
  )
})

export const _sink = () => sink
