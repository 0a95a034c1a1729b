// `effect-smtpd --stdio`: one SMTP session on standard input and output, as inetd, systemd's
// Accept=yes sockets and `sendmail -bs` users run it. The built command (scripts/bundle.mjs, as
// in main.test.ts) is driven over pipes the way a client talks: one command, then its reply.
import { describe, expect, it } from "@effect/vitest"
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { builtCommand } from "../utils/command.js"

const main = builtCommand()
const node = process.execPath

// a client on the command's stdin and stdout
const session = (args: ReadonlyArray<string>) => {
  const child: ChildProcessWithoutNullStreams = spawn(node, [main, ...args], { timeout: 30_000 })
  let stdout = ""
  let stderr = ""
  let waiting: (() => void) | undefined
  child.stdout.on("data", (d) => {
    stdout += d
    waiting?.()
  })
  child.stderr.on("data", (d) => (stderr += d))
  const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)))
  let read = 0
  // the next whole reply (its last line has a space after the code)
  const reply = async (): Promise<string> => {
    for (;;) {
      const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(stdout.slice(read))
      if (match !== null) {
        read += match[0].length
        return match[0]
      }
      await new Promise<void>((wake) => (waiting = wake))
    }
  }
  const command = (line: string) => {
    child.stdin.write(`${line}\r\n`)
    return reply()
  }
  return { child, reply, command, exited, stdout: () => stdout, stderr: () => stderr }
}

const maildir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-stdio-"))
const stored = (dir: string) =>
  Fs.readdirSync(Path.join(dir, "new")).map((f) => Fs.readFileSync(Path.join(dir, "new", f), "utf8"))

describe("effect-smtpd --stdio", () => {
  it("holds a session over a pipe, stores the message in the Maildir, and exits 0 after QUIT", async () => {
    const dir = maildir()
    try {
      const client = session(["--stdio", "-c", "Maildir", "--maildir", dir, "-d"])
      expect(await client.reply()).toMatch(/^220 \S+ ESMTP effect-smtpd\r\n$/)
      expect(await client.command("EHLO client.test")).toMatch(/^250-/)
      expect(await client.command("MAIL FROM:<alice@example.com>")).toBe("250 2.1.0 Ok\r\n")
      expect(await client.command("RCPT TO:<bob@example.com>")).toBe("250 2.1.5 Ok\r\n")
      expect(await client.command("DATA")).toMatch(/^354 /)
      client.child.stdin.write("Subject: over a pipe\r\n\r\nHello\r\n..dot\r\n")
      expect(await client.command(".")).toBe("250 2.0.0 Ok: message accepted\r\n")
      expect(await client.command("QUIT")).toBe("221 2.0.0 Bye\r\n")
      expect(await client.exited).toBe(0)
      // stdout holds the replies only; the protocol trace (-d) went to stderr
      expect(client.stdout()).not.toContain("<<<")
      expect(client.stderr()).toContain("<<< MAIL FROM:<alice@example.com>")
      const [message] = stored(dir)
      expect(message).toContain("Subject: over a pipe\r\n\r\nHello\r\n.dot\r\n")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("--bare-lf reject: a command line with a lone LF gets 500 5.5.2, nothing of it run", async () => {
    const client = session(["--stdio", "-c", "Sink", "--bare-lf", "reject"])
    await client.reply()
    await client.command("EHLO client.test")
    expect(await client.command("MAIL FROM:<a@example.com>")).toMatch(/^250 /)
    expect(await client.command("RCPT TO:<b@example.com>\nRCPT TO:<c@example.com>")).toBe(
      "500 5.5.2 Bare CR or LF not allowed in commands\r\n"
    )
    expect(await client.command("DATA")).toMatch(/^554 5\.5\.1 /)
    expect(await client.command("QUIT")).toMatch(/^221 /)
    expect(await client.exited).toBe(0)
  })

  it("exits 0 at the end of its input, a message taken before it kept", async () => {
    const dir = maildir()
    try {
      const client = session(["--stdio", "-c", "Maildir", "--maildir", dir])
      await client.reply()
      await client.command("HELO client.test")
      await client.command("MAIL FROM:<alice@example.com>")
      await client.command("RCPT TO:<bob@example.com>")
      await client.command("DATA")
      expect(await client.command("Subject: no quit\r\n\r\nbye\r\n.")).toMatch(/^250 /)
      client.child.stdin.end()
      expect(await client.exited).toBe(0)
      expect(stored(dir)).toHaveLength(1)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("--relay-mode queue: the message is in the queue when the 250 comes; the process exits after QUIT", async () => {
    const dir = maildir()
    const queue = Path.join(dir, "queue.db")
    try {
      // nothing listens upstream: the message stays queued for a server on the same queue
      const args = ["--stdio", "-c", "PureProxy", "--relay-mode", "queue", "--queue", queue, "127.0.0.1:9"]
      const client = session(args)
      await client.reply()
      await client.command("EHLO client.test")
      await client.command("MAIL FROM:<alice@example.com>")
      await client.command("RCPT TO:<bob@example.net>")
      await client.command("DATA")
      const queued = /^250 2\.0\.0 Ok: queued as (\S+)\r\n$/.exec(await client.command("Subject: inetd\r\n\r\nhi\r\n."))
      expect(queued).not.toBeNull()
      expect(await client.command("QUIT")).toMatch(/^221 /)
      expect(await client.exited).toBe(0)
      const list = spawnSync(node, [main, "queue", "list", "--json", "--queue", queue], { encoding: "utf8" })
      const listed = JSON.parse(list.stdout) as ReadonlyArray<{ id: string; sender: string }>
      expect(listed.map((m) => m.id)).toEqual([queued![1]])
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses the DebuggingServer (its output would mix with the replies) and listener flags, with status 2", async () => {
    const runs = [
      ["--stdio"],
      ["--stdio", "-c", "DebuggingServer"],
      ["--stdio", "-c", "Sink", "--listen", "127.0.0.1:0"]
    ]
    const results = await Promise.all(
      runs.map(async (args) => {
        const client = session(args)
        client.child.stdin.end()
        return { status: await client.exited, stdout: client.stdout(), stderr: client.stderr() }
      })
    )
    expect(results.map((r) => r.status)).toEqual([2, 2, 2])
    expect(results.map((r) => r.stdout)).toEqual(["", "", ""])
    expect(results[0]!.stderr).toContain("--stdio cannot run --class DebuggingServer")
    expect(results[2]!.stderr).toContain("drop --listen")
  })
})
