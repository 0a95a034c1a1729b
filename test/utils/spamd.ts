// SpamAssassin's daemon for the tests: Debian's spamd on a free loopback port, local tests only
// (-L), no user configuration (-x), one child; killed when the scope closes.
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { which } from "./tools.js"
import { freePort } from "./upstreams.js"

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port }, () => (socket.destroy(), resolve(true)))
    socket.on("error", () => resolve(false))
  })

export const spamd = Effect.acquireRelease(
  Effect.gen(function* () {
    const port = yield* freePort
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-spamd-"))
    const asRoot = process.getuid?.() === 0 ? ["-u", "nobody"] : []
    const child = ChildProcess.spawn(
      which("spamd")!,
      [
        `--listen=127.0.0.1:${port}`,
        "-L",
        "-x",
        "--max-children=1",
        "--min-children=1",
        "--syslog=stderr",
        `--pidfile=${Path.join(dir, "pid")}`,
        ...asRoot
      ],
      { stdio: "ignore" }
    )
    for (let i = 0; i < 300 && !(yield* Effect.promise(() => accepts(port))); i++) yield* Effect.sleep("100 millis")
    return { port, child, dir }
  }),
  ({ child, dir }) =>
    Effect.sync(() => {
      child.kill("SIGTERM")
      Fs.rmSync(dir, { recursive: true, force: true })
    })
)
