// The mail queue on the command line (issue 15): --relay-mode queue accepting into a SQLite
// queue while its upstream is down, `queue list|show|flush|retry|delete|purge` operating that
// queue from another process, and the settings refused before anything listens. The built
// command, run as users run it; the upstream is another one (DebuggingServer --format json).
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"

const { runAll, start } = CliProcess.runner(builtCommand())

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const tempDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-queue-"))

// one message over SMTP; the reply to its end of data
const send = async (port: number, recipients: ReadonlyArray<string>, subject: string) => {
  const replies = await CliProcess.converse({ port }, [
    "EHLO client.test\r\n",
    "MAIL FROM:<a@example.com>\r\n",
    ...recipients.map((r) => `RCPT TO:<${r}>\r\n`),
    "DATA\r\n",
    `Subject: ${subject}\r\n\r\nstored, then delivered\r\n.\r\n`,
    "QUIT\r\n"
  ])
  return replies[4 + recipients.length]!
}

const until = async (what: string, check: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

// `queue list --json`, as the command prints it
const listed = async (queue: string): Promise<ReadonlyArray<any>> => {
  const [result] = await runAll([["queue", "list", "--json", "--queue", queue]])
  expect(result!.status, result!.stderr).toBe(0)
  return JSON.parse(result!.stdout)
}

const queueIds = async (queue: string) => (await listed(queue)).map((m) => m.id as string)

// the listing once `check` holds (the server delivers in the background)
const listedUntil = async (queue: string, check: (messages: ReadonlyArray<any>) => boolean) => {
  let messages = await listed(queue)
  for (let i = 0; i < 75 && !check(messages); i++) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    messages = await listed(queue)
  }
  return messages
}

describe("effect-smtpd --relay-mode queue and the queue command", () => {
  it("refuses spool, --workers 2 on a SQLite queue and retry flags out of order, before listening", async () => {
    const dir = tempDir()
    try {
      const routes = Path.join(dir, "routes.json")
      Fs.writeFileSync(routes, JSON.stringify({ routes: [], fallback: { relay: "127.0.0.1:25", mode: "spool" } }))
      const queue = Path.join(dir, "q.db")
      const proxy = ["-c", "PureProxy", "--queue", queue, "127.0.0.1:0", "127.0.0.1:25"]
      const runs = [
        ["-c", "PureProxy", "--relay-mode", "spool", "127.0.0.1:0", "127.0.0.1:25"],
        ["-c", "Router", "--routes", routes, "127.0.0.1:0"],
        ["--relay-mode", "queue", "--workers", "2", ...proxy],
        ["--relay-mode", "queue", "--retry-min", "600", "--retry-max", "300", ...proxy]
      ]
      const results = await runAll(runs)
      expect(results[0]!.stderr).toContain("--relay-mode spool is gone: use --relay-mode queue")
      expect(results[1]!.stderr).toContain(`"mode": "spool" is gone: use "mode": "queue"`)
      expect(results[2]!.stderr).toContain("--workers 2 cannot share the SQLite queue")
      expect(results[3]!.stderr).toContain("--retry-max (300) is below --retry-min (600)")
      for (const [i, args] of runs.entries()) {
        expect(results[i]!.status, args.join(" ")).toBe(2)
        expect(results[i]!.stderr, args.join(" ")).not.toContain("listening on")
        expect(results[i]!.stderr, args.join(" ")).not.toContain("ExperimentalWarning")
      }
      // refused before the queue was opened: no file made
      expect(Fs.existsSync(queue)).toBe(false)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("queues with the upstream down (250 queued as ID), lists it, and delivers it once flushed", async () => {
    const dir = tempDir()
    const running: Array<CliProcess.Running> = []
    try {
      const queue = Path.join(dir, "q.db")
      const upstreamPort = await freePort()
      const args = ["-c", "PureProxy", "--relay-mode", "queue", "--queue", queue, "--retry-min", "3600"]
      const relay = await start([...args, "127.0.0.1:0", `127.0.0.1:${upstreamPort}`])
      running.push(relay)
      const reply = await send(relay.port, ["b@example.net", "c@example.net"], "queued")
      const id = /^250 2\.0\.0 Ok: queued as (\S+)\r\n$/.exec(reply)?.[1]
      expect(id, reply).toBeDefined()

      // the first try fails at once: both recipients deferred with the reason
      const messages = await listedUntil(queue, (listed) => listed[0]?.attempts === 1)
      expect(messages).toEqual([
        expect.objectContaining({
          id,
          mailFrom: "a@example.com",
          attempts: 1,
          recipients: [
            expect.objectContaining({
              address: "b@example.net",
              state: "deferred",
              lastReply: expect.stringMatching(/^451 4\.4\.1 /)
            }),
            expect.objectContaining({
              address: "c@example.net",
              state: "deferred",
              lastReply: expect.stringMatching(/^451 4\.4\.1 /)
            })
          ]
        })
      ])
      const [text, shown] = await runAll([
        ["queue", "list", "--queue", queue],
        ["queue", "show", id!, "--queue", queue]
      ])
      expect(text!.stdout).toContain(`${id} `)
      expect(text!.stdout).toContain("-- 1 Kbytes in 1 Request.")
      expect(shown!.stdout).toContain("b@example.net: deferred (451 4.4.1")
      expect(shown!.stdout).toMatch(/\nReceived: from client\.test /)
      expect(shown!.stdout).toContain("X-Peer: 127.0.0.1\nSubject: queued")
      expect(shown!.stdout).not.toContain("stored, then delivered")

      // the upstream comes up; nothing is due for an hour, until the flush
      const upstream = await start(["--format", "json", `127.0.0.1:${upstreamPort}`])
      running.push(upstream)
      const [flushed] = await runAll([["queue", "flush", "--queue", queue]])
      expect([flushed!.status, flushed!.stdout]).toEqual([0, "1 message due now\n"])
      await until("the delivery", () => upstream.stdout().includes("\n"))
      const delivered = JSON.parse(upstream.stdout().split("\n")[0]!)
      expect(delivered).toMatchObject({ mail_from: "a@example.com", rcpt_to: ["b@example.net", "c@example.net"] })
      expect(Buffer.from(delivered.content_b64, "base64").toString()).toContain("Subject: queued\r\n")
      await listedUntil(queue, (listed) => listed.length === 0)
      expect(await queueIds(queue)).toEqual([])
    } finally {
      for (const child of running) await child.stop("SIGTERM")
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('queues a Router\'s "mode": "queue" route under its upstream\'s name', async () => {
    const dir = tempDir()
    try {
      const queue = Path.join(dir, "q.db")
      const upstreamPort = await freePort()
      const routes = Path.join(dir, "routes.json")
      const fallback = { relay: `127.0.0.1:${upstreamPort}`, mode: "queue" }
      Fs.writeFileSync(routes, JSON.stringify({ routes: [], fallback }))
      const router = await start(["-c", "Router", "--routes", routes, "--queue", queue, "127.0.0.1:0"])
      try {
        expect(await send(router.port, ["b@example.net"], "routed")).toMatch(/^250 /)
      } finally {
        expect(await router.stop("SIGTERM")).toBe(0)
      }
      expect(await listed(queue)).toMatchObject([
        { route: `127.0.0.1:${upstreamPort}`, recipients: [{ address: "b@example.net" }] }
      ])
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("deletes one message, purges the rest, retries one; a missing id or queue exits 1", async () => {
    const dir = tempDir()
    try {
      const queue = Path.join(dir, "q.db")
      const upstreamPort = await freePort()
      const args = ["-c", "PureProxy", "--relay-mode", "queue", "--queue", queue, "--retry-min", "3600"]
      const relay = await start([...args, "127.0.0.1:0", `127.0.0.1:${upstreamPort}`])
      try {
        for (const subject of ["one", "two", "three"])
          expect(await send(relay.port, ["b@example.net"], subject)).toMatch(/^250 /)
      } finally {
        expect(await relay.stop("SIGTERM")).toBe(0)
      }
      const ids = await queueIds(queue)
      expect(ids).toHaveLength(3)
      const results = await runAll([
        ["queue", "delete", ids[0]!, "--queue", queue],
        ["queue", "retry", ids[1]!, "--queue", queue, "--json"],
        ["queue", "show", "NOSUCHID", "--queue", queue],
        ["queue", "delete", "NOSUCHID", "--queue", queue],
        ["queue", "list", "--queue", Path.join(dir, "missing", "q.db")]
      ])
      expect(results.map((r) => [r.status, r.stdout])).toEqual([
        [0, "1 message deleted\n"],
        [0, '{"retry":1}\n'],
        [1, ""],
        [1, ""],
        [1, ""]
      ])
      expect(results[2]!.stderr).toBe("effect-smtpd: no message NOSUCHID in the queue\n")
      expect(results[4]!.stderr).toMatch(/^effect-smtpd: cannot open the queue \S+missing\/q\.db: [^\n]+\n$/)
      expect(await queueIds(queue)).toEqual(ids.slice(1))
      const [purged] = await runAll([["queue", "purge", "--queue", queue]])
      expect([purged!.status, purged!.stdout]).toEqual([0, "2 messages deleted\n"])
      const [empty] = await runAll([["queue", "list", "--queue", queue]])
      expect(empty!.stdout).toBe("Mail queue is empty\n")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
