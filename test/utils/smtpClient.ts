// What the SmtpClient tests share: a connection over the Node dialer, envelopes and bodies from
// text, short timeouts, and a body that is hard to send byte for byte.
import { Duration, Effect, Stream } from "effect"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import { crlf } from "./server.js"

/** Connects through the Node dialer, in the current scope. */
export const connect = (options: SmtpClient.Options) =>
  Effect.flatMap(SmtpClient.SmtpClient, (client) => client.connect(options)).pipe(Effect.provide(NodeSmtpClient.layer))

/** Each character one byte. */
export const bytes = (latin1: string) => new Uint8Array(Buffer.from(latin1, "latin1"))
/** A body stream of these chunks, each character one byte. */
export const body = (...chunks: ReadonlyArray<string>) => Stream.fromIterable(chunks.map(bytes))

/** An envelope without parameters. */
export const envelope = (mailFrom: string, ...recipients: ReadonlyArray<string>): SmtpClient.Envelope => ({
  mailFrom,
  mailParameters: [],
  recipients: recipients.map((address) => ({ address, parameters: [] }))
})

/** The effect's value with the milliseconds it took. */
export const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.timed(effect), ([duration, value]) => [Duration.toMillis(duration), value] as const)

export const eightBitMime = [{ keyword: "BODY", value: "8BITMIME" }]

// short limits: a failure that waits for one shows up in a fraction of a second
export const quick: Partial<SmtpClient.Timeouts> = {
  connect: "1 second",
  greeting: "300 millis",
  command: "300 millis",
  mail: "300 millis",
  rcpt: "300 millis",
  dataInit: "300 millis",
  dataBlock: "1 second",
  dataEnd: "300 millis"
}

// a tricky body: dot lines (one split from its CRLF, one at the start of a chunk), a CRLF split
// across chunks, a bare LF, a bare CR, 8-bit bytes, and no line break at the end
export const trickyChunks = [
  "Subject: exact\r\n\r\n.leading dot\r\n..two dots\r\n.",
  "\r\n",
  ".at the start of a chunk\r\nbare LF\n.after the bare LF\r",
  "\nlatin-1 \xe9\xff\x80 and a bare CR\rend"
]
// what arrives: every line break CRLF, one added at the end, the dots as they were
export const trickyDelivered = crlf(trickyChunks.join("")) + "\r\n"
