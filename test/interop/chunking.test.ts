// CHUNKING (RFC 3030) with BINARYMIME and DSN (RFC 3461), end to end: the built command
// (`-c DebuggingServer --format json`, `-c Sink`) driven over a raw socket with pipelined BDAT
// chunks, and our SmtpClient sending BDAT to our server.
//
// No real client here: swaks (20201014, the version Debian ships) has no BDAT or CHUNKING option
// (`swaks --help` names neither) and curl's SMTP sends DATA only, so the raw socket stands in
// for a client that pipelines chunks. Python's smtplib has no BDAT either.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { builtCommand } from "../utils/command.js"
import { command, rawExchange } from "../utils/lmtpInterop.js"
import { memory, mib } from "../utils/rss.js"
import { withServer } from "../utils/server.js"
import { connect, envelope } from "../utils/smtpClient.js"

const main = builtCommand()

// every byte value, a line that is a lone dot, CRLF.CRLF, dot-stuffing that must stay, bare CR
// and LF, and no line ending at the end: BDAT carries it all as it is
const binary =
  Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("") +
  "\r\n.\r\n..stuffed?\r\nbare CR\rbare LF\n.\r\n\r\n.\r\nQUIT\r\nno end"

const bdat = (chunk: string, last = false) => `BDAT ${chunk.length}${last ? " LAST" : ""}\r\n${chunk}`

const envelopeCommands =
  "MAIL FROM:<s@example.com> BODY=BINARYMIME RET=HDRS ENVID=QQ+2Bx\r\n" +
  "RCPT TO:<a@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@example.com\r\n" +
  "RCPT TO:<b@example.com> NOTIFY=NEVER\r\n" +
  "RCPT TO:<c@example.com>\r\n"

// waits until `stdout()` holds a whole line, and gives the first
const firstLine = (stdout: () => string) =>
  Effect.gen(function* () {
    for (let tries = 0; tries < 500 && !stdout().includes("\n"); tries++) yield* Effect.sleep("10 millis")
    return stdout().split("\n")[0]!
  })

describe("effect-smtpd -c DebuggingServer --format json", () => {
  it.live("offers CHUNKING, BINARYMIME and DSN; records a pipelined BDAT message exactly, with its DSN", () =>
    Effect.gen(function* () {
      const server = yield* command(main, ["-c", "DebuggingServer", "--format", "json", "127.0.0.1:0"])
      const [first, second, third] = [binary.slice(0, 200), binary.slice(200, 260), binary.slice(260)]
      const [secondChunk, lastChunk] = [bdat(second!), bdat(third!, true)]
      // chunk edges and segment edges apart: a command and its bytes split, two chunks in one write
      const replies = yield* rawExchange(server.port, [
        envelopeCommands,
        bdat(first!) + secondChunk.slice(0, 30),
        secondChunk.slice(30) + lastChunk.slice(0, 5),
        lastChunk.slice(5)
      ])
      expect(replies[0]).toMatch(/^220 /)
      for (const keyword of ["CHUNKING", "BINARYMIME", "DSN"]) {
        expect(replies[1]!.split("\r\n").map((line) => line.slice(4))).toContain(keyword)
      }
      expect(replies.slice(2).map((reply) => reply.slice(0, 9))).toEqual([
        ...["250 2.1.0", "250 2.1.5", "250 2.1.5", "250 2.1.5"],
        ...["250 2.0.0", "250 2.0.0", "250 2.0.0", "221 2.0.0"]
      ])
      const json = JSON.parse(yield* firstLine(server.stdout))
      expect(Buffer.from(json.content_b64, "base64").toString("latin1") === binary).toBe(true)
      expect(json).toMatchObject({
        mail_from: "s@example.com",
        rcpt_to: ["a@example.com", "b@example.com", "c@example.com"],
        body: "BINARYMIME",
        ret: "HDRS",
        envid: "QQ+x",
        rcpt_dsn: [
          { notify: ["SUCCESS", "FAILURE"], orcpt: { type: "rfc822", address: "a+b@example.com" } },
          { notify: ["NEVER"], orcpt: null },
          null
        ],
        size: binary.length
      })
    })
  )
})

// 1 MiB of every byte value, CRLF.CRLF and bare line endings, in uneven stream pieces
const mebibyte = (() => {
  const whole = Buffer.from(binary.repeat(Math.ceil((1 << 20) / binary.length)).slice(0, 1 << 20), "latin1")
  const pieces: Array<Uint8Array> = []
  for (let at = 0, size = 1; at < whole.length; at += size, size = (size * 13 + 7) % 70_001) {
    pieces.push(whole.subarray(at, at + size))
  }
  return { whole, pieces }
})()

describe("our SmtpClient to our server", () => {
  it.live("sends a 1 MiB BINARYMIME message with BDAT; it arrives byte for byte", () =>
    Effect.gen(function* () {
      const server = yield* withServer()
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.has("CHUNKING")).toBe(true)
      const result = yield* connection.send(
        { ...envelope("s@example.com", "big@example.com"), mailParameters: [{ keyword: "BODY", value: "BINARYMIME" }] },
        Stream.fromIterable(mebibyte.pieces)
      )
      expect(result.accepted).toEqual(["big@example.com"])
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.envelope.mailOptions.body).toBe("BINARYMIME")
      // DATA would have normalized the bare CR and LF (and BINARYMIME with DATA is a 503)
      expect(delivery!.data.length).toBe(mebibyte.whole.length)
      expect(Buffer.compare(Buffer.from(delivery!.data), mebibyte.whole)).toBe(0)
    })
  )
})

describe("effect-smtpd -c Sink", () => {
  it.live(
    "takes a 100 MiB message in 1 MiB BDAT chunks with a peak RSS of at most 100 MiB",
    () =>
      Effect.gen(function* () {
        const server = yield* command(main, ["-c", "Sink", "--size", "0", "127.0.0.1:0"])
        const chunk = Buffer.alloc(1 << 20)
        for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131) & 0xff
        const pieces = function* () {
          yield "MAIL FROM:<s@example.com> BODY=BINARYMIME\r\nRCPT TO:<big@example.com>\r\n"
          for (let i = 0; i < 100; i++) yield* [`BDAT ${chunk.length}${i === 99 ? " LAST" : ""}\r\n`, chunk]
        }
        const idle = yield* memory(server.pid)
        const replies = yield* rawExchange(server.port, pieces())
        expect(replies.slice(2, 4).map((reply) => reply.slice(0, 9))).toEqual(["250 2.1.0", "250 2.1.5"])
        const chunkReplies = replies.slice(4, -1)
        expect(chunkReplies).toHaveLength(100)
        expect(chunkReplies.filter((reply) => !reply.startsWith("250 2.0.0"))).toEqual([])
        expect(replies.at(-1)).toMatch(/^221 /)
        const { peak } = yield* memory(server.pid)
        const report = `peak RSS ${mib(peak)}, idle ${mib(idle.rss)}`
        // the bound; idle, the bundled command already holds ~78 MiB (Node 22)
        expect(peak, report).toBeLessThanOrEqual(100 * 1024)
        // streamed: ~13 MiB more whether the message is 100 or 300 MiB; buffered would be 100+
        expect(peak - idle.rss, report).toBeLessThan(32 * 1024)
      }),
    120_000
  )
})
