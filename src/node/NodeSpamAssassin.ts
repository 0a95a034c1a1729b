/**
 * The inbox's SpamAssassin check over a socket: spamd's REPORT command (its network protocol,
 * SPAMC/1.5), the message sent whole, the answer read to its end. A daemon that cannot be
 * reached, or does not answer within 30 seconds, gives a report with the reason, never a failure.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Net from "node:net"
import * as SpamCheck from "../inbox/SpamCheck.js"

// the exchange: the request written and our side closed, everything spamd says until it closes
const exchange = (host: string, port: number, raw: Uint8Array): Effect.Effect<string, "unreachable"> =>
  Effect.callback<string, "unreachable">((resume) => {
    const chunks: Array<Buffer> = []
    let done = false
    const finish = (result: Effect.Effect<string, "unreachable">) => {
      if (done) return
      done = true
      resume(result)
    }
    const socket = Net.connect({ host, port }, () => {
      socket.write(`REPORT SPAMC/1.5\r\nContent-length: ${raw.length}\r\n\r\n`)
      socket.end(raw)
    })
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    // (an error is followed by a close: the error decides)
    socket.on("error", () => finish(Effect.fail("unreachable")))
    socket.on("close", () => finish(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    return Effect.sync(() => socket.destroy())
  })

/**
 * The check through spamd at `host:port`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (host: string, port: number): Layer.Layer<SpamCheck.SpamCheck> =>
  Layer.succeed(SpamCheck.SpamCheck, {
    server: `${host}:${port}`,
    check: (raw) =>
      exchange(host, port, raw).pipe(
        Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.fail("timed out" as const) }),
        Effect.match({
          onFailure: (why) =>
            SpamCheck.failed(why === "timed out" ? "spamd did not answer in time" : "spamd cannot be reached"),
          onSuccess: SpamCheck.parseReport
        })
      )
  })
