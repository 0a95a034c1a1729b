// Debian's aiosmtpd speaking LMTP (its `aiosmtpd.lmtp.LMTP` class) on a free loopback port, for
// the client's LMTP tests. aiosmtpd leaves the replies after DATA to the handler: this one gives
// one per recipient (RFC 2033 §4.2), refusing "full…" with 452 there and "refuse…" at RCPT.
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"

const script = String.raw`
import asyncio, json, sys
from aiosmtpd.lmtp import LMTP

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"lhlo": session.host_name}), flush=True)
        return "\r\n".join(
            "452 4.2.2 Mailbox full" if to.startswith("full") else "250 2.0.0 Delivered to " + to
            for to in envelope.rcpt_tos
        )

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: LMTP(Handler(), hostname="lmtp.test"), "127.0.0.1", 0)
    print("READY", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
`

/** aiosmtpd's LMTP, killed with the scope; `lhlo` is the LHLO name of the first delivery. */
export const aiosmtpdLmtp = Effect.gen(function* () {
  const child = yield* Effect.acquireRelease(
    Effect.sync(() => ChildProcess.spawn("/usr/bin/python3", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] })),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )
  const lines: Array<string> = []
  const port = yield* Effect.callback<number, Error>((resume) => {
    let partial = ""
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    child.once("exit", (code) => resume(Effect.fail(new Error(`aiosmtpd exited ${code}: ${stderr}`))))
    child.stdout.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split("\n")
      partial = parts.pop()!
      for (const line of parts) {
        lines.push(line)
        if (line.startsWith("READY ")) resume(Effect.succeed(Number(line.split(" ")[1])))
      }
    })
  }).pipe(Effect.timeout("10 seconds"), Effect.orDie)
  const lhlo = Effect.suspend(() => {
    const record = lines.find((line) => line.startsWith("{"))
    return record === undefined ? Effect.fail("none yet") : Effect.succeed(JSON.parse(record).lhlo as string)
  }).pipe(Effect.eventually, Effect.timeout("3 seconds"), Effect.orDie)
  return { host: "127.0.0.1", port, lhlo }
})
