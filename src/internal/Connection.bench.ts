/**
 * A session's own work per message, with nothing else in the way: `Connection.start` over a
 * transport whose input is handed to the session inline and whose writes are counted, so no
 * socket, queue or fiber wake is measured — only the framer, the fold, the replies and the
 * inline plumbing. messages/s = hz. Not tests: `npm run bench:micro`.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { test } from "vitest"
import * as MessageHandler from "../handler/MessageHandler.js"
import * as Connection from "./Connection.js"
import * as ServerConfig from "../server/ServerConfig.js"
import * as Transport from "./Transport.js"

const encoder = new TextEncoder()
// 4 KiB of content (64 lines of 64 octets, CRLF included), then the end of DATA
const message = encoder.encode(("y".repeat(62) + "\r\n").repeat(64) + ".\r\n")
const envelope = encoder.encode("MAIL FROM:<sender@example.com>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\n")
const mail = encoder.encode("MAIL FROM:<sender@example.com>\r\n")
const rcpt = encoder.encode("RCPT TO:<rcpt@example.org>\r\n")
const data = encoder.encode("DATA\r\n")

let inline: Transport.Inline | undefined
let written = ""
const transport: Transport.Transport = {
  read: () => Effect.never,
  // the session's fiber waits here for good: every chunk after the greeting is taken inline
  readInline: (_, take) =>
    Effect.callback(() => {
      inline = take
    }),
  write: (text) => Effect.sync(() => void (written = String(text))),
  writeNow: (text) => {
    written = text
    return true
  },
  close: Effect.void,
  remote: { address: "192.0.2.1", port: 40000 },
  local: { address: "192.0.2.25", port: 25 },
  secure: false,
  tls: undefined,
  acceptTls: undefined,
  hasInput: () => false
}

const config = Effect.runSync(ServerConfig.make({ hostname: "bench.example" }))
// the default services, as `Effect.runFork` gives them to the session's fiber
const context = Effect.runSync(Effect.context<never>())
Connection.start(transport, {
  id: "bench",
  config,
  handler: MessageHandler.make({}),
  isShuttingDown: () => false,
  clock: Context.get(context, Clock.Clock),
  context,
  fork: (session) => Effect.runFork(session),
  forkHook: (hook) => Effect.runFork(hook)
})
// the session has greeted and is waiting for a command
// hands a chunk to the session and checks the code of the last reply it wrote
const push = (chunk: Uint8Array, code: string) => {
  if (inline === undefined || inline.take(chunk) === "NeedsFiber") throw new Error("the session left inline handling")
  const before = written.lastIndexOf("\r\n", written.length - 3)
  const last = before < 0 ? written : written.slice(before + 2)
  if (!last.startsWith(`${code} `)) throw new Error(`expected ${code}, got ${JSON.stringify(written)}`)
}
push(encoder.encode("EHLO client.example.com\r\n"), "250")

test("a session's own work, inline (messages/s = hz)", async ({ bench }) => {
  await bench.compare(
    bench("4 KiB message, MAIL/RCPT/DATA pipelined, then the body", () => {
      push(envelope, "354")
      push(message, "250")
    }),
    bench("4 KiB message, one command per read (as smtp-source sends it)", () => {
      push(mail, "250")
      push(rcpt, "250")
      push(data, "354")
      push(message, "250")
    })
  )
})
