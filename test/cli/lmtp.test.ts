// The command's protocol flags end to end: --lmtp, Unix sockets (--listen unix:/path, localaddr),
// --no-chunking / --no-dsn, --max-hops; the built command, run as users run it.
import * as Relay from "../../src/handlers/Relay.js"
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"

const { runAll, start } = CliProcess.runner(builtCommand())
const converse = CliProcess.converse

describe("effect-smtpd --lmtp, Unix sockets and the ESMTP switches", () => {
  it("refuses --workers with a Unix socket and a --max-hops below 1, before listening", async () => {
    const runs = [
      ["-c", "Sink", "--workers", "2", "--listen", "unix:/tmp/effect-smtpd-never.sock"],
      ["-c", "Sink", "--max-hops", "0", "127.0.0.1:0"],
      ["-c", "Sink", "unix:/tmp/x?mode=12"]
    ]
    const results = await runAll(runs)
    expect(results[0]!.stderr).toContain("--workers cannot share a Unix socket (unix:/tmp/effect-smtpd-never.sock)")
    expect(results[1]!.stderr).toContain("--max-hops must be at least 1, got 0")
    for (const [i, args] of runs.entries()) {
      expect(results[i]!.status, args.join(" ")).toBe(2)
      expect(results[i]!.stderr, args.join(" ")).not.toContain("listening on")
    }
    expect(Fs.existsSync("/tmp/effect-smtpd-never.sock")).toBe(false)
  })

  it("speaks LMTP with --lmtp on a Unix socket, and removes the socket when it stops", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-cli-"))
    try {
      const path = Path.join(dir, "lmtp.sock")
      const maildir = Path.join(dir, "mail")
      const args = ["-c", "Maildir", "--maildir", maildir, "--lmtp", "--listen", `unix:${path}?mode=0600`]
      const server = await start(args, /Maildir \(LMTP\) listening on unix:\//)
      try {
        expect(server.stderr()).toContain(`listening on unix:${path}`)
        expect(Fs.statSync(path).mode & 0o777).toBe(0o600)
        const replies = await converse({ path }, [
          "EHLO c\r\n",
          "LHLO c\r\n",
          "MAIL FROM:<a@b.example>\r\n",
          "RCPT TO:<bob@example.com>\r\n",
          "RCPT TO:<carol@example.com>\r\n",
          "DATA\r\n",
          "Subject: lmtp\r\n\r\nover a Unix socket\r\n.\r\n",
          "QUIT\r\n"
        ])
        // RFC 2033 §4.1: LHLO, never HELO or EHLO
        expect(replies[1]).toMatch(/^500 /)
        expect(replies[2]).toMatch(/^250[- ]/)
        expect(replies[2]).toContain("PIPELINING")
        expect(replies[6]).toMatch(/^354 /)
        // §4.2: one reply per recipient after the data
        expect(replies[7]).toMatch(/^250 2\.\d\.\d/)
        expect(replies[8]).toMatch(/^250 2\.\d\.\d/)
        expect(replies[9]).toMatch(/^221 /)
        const files = Fs.readdirSync(Path.join(maildir, "new"))
        expect(files.length).toBeGreaterThan(0)
        const stored = Fs.readFileSync(Path.join(maildir, "new", files[0]!), "utf8")
        // a Received: field unless --no-received
        expect(stored).toMatch(/^Received: from c /m)
        expect(stored).toContain("Subject: lmtp\r\n\r\nover a Unix socket\r\n")
      } finally {
        expect(await server.stop("SIGTERM")).toBe(0)
      }
      expect(Fs.existsSync(path)).toBe(false)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("takes unix:/path as localaddr, and offers CHUNKING and DSN unless --no-chunking / --no-dsn", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-cli-"))
    const servers: Array<CliProcess.Running> = []
    try {
      const plain = Path.join(dir, "plain.sock")
      const bare = Path.join(dir, "bare.sock")
      servers.push(await start(["-c", "Sink", `unix:${plain}`], /listening on unix:/))
      servers.push(await start(["-c", "Sink", "--no-chunking", "--no-dsn", `unix:${bare}`], /listening on unix:/))
      const [offered, withheld] = await Promise.all(
        [plain, bare].map((path) => converse({ path }, ["EHLO c\r\n", "QUIT\r\n"]))
      )
      expect(offered![0]).toMatch(/^220 /)
      expect(offered![1]).toMatch(/^250[- ]CHUNKING\r$/m)
      expect(offered![1]).toMatch(/^250[- ]DSN\r$/m)
      expect(withheld![1]).not.toContain("CHUNKING")
      expect(withheld![1]).not.toContain("BINARYMIME")
      expect(withheld![1]).not.toMatch(/^250[- ]DSN\r$/m)
      expect(withheld![2]).toMatch(/^221 /)
    } finally {
      for (const server of servers) await server.stop("SIGTERM")
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses with 554 5.4.6 a relayed message with more Received: fields than --max-hops", async () => {
    const upstream = await start(["--format", "json", "--listen", "127.0.0.1:0"])
    const relay = await start([
      "-c",
      "PureProxy",
      "--max-hops",
      "1",
      "--upstream-tls",
      "off",
      "127.0.0.1:0",
      `127.0.0.1:${upstream.port}`
    ])
    try {
      const hops = "Received: from a by b; Sun, 06 Dec 2026 23:40:00 +0000\r\n"
      const replies = await converse({ port: relay.port }, [
        "EHLO c\r\n",
        "MAIL FROM:<a@b.example>\r\n",
        "RCPT TO:<bob@example.com>\r\n",
        "DATA\r\n",
        `${hops}${hops}Subject: loop\r\n\r\nround and round\r\n.\r\n`,
        "QUIT\r\n"
      ])
      expect(replies[4]).toMatch(/^354 /)
      expect(replies[5]).toMatch(/^554 5\.4\.6 /)
      expect(upstream.stdout()).toBe("")
    } finally {
      await relay.stop("SIGTERM")
      await upstream.stop("SIGTERM")
    }
  })

  it("in front of a relay advertises a SIZE that leaves room for what the relay adds, within the upstream's", async () => {
    const upstream = await start(["--format", "json", "--size", "20000", "--listen", "127.0.0.1:0"])
    const relay = await start(["-c", "PureProxy", "--upstream-tls", "off", "127.0.0.1:0", `127.0.0.1:${upstream.port}`])
    // the upstream gone: our own limit, less the same room
    const alone = await start(["-c", "PureProxy", "--upstream-tls", "off", "127.0.0.1:0", "127.0.0.1:9"])
    try {
      const size = (ehlo: string | undefined) => Number(/^250[- ]SIZE (\d+)\r$/m.exec(ehlo ?? "")?.[1])
      const advertised = size((await converse({ port: relay.port }, ["EHLO c\r\n", "QUIT\r\n"]))[1])
      expect(advertised).toBe(20000 - Relay.headroom({}))
      expect(size((await converse({ port: alone.port }, ["EHLO c\r\n", "QUIT\r\n"]))[1])).toBe(
        33554432 - Relay.headroom({})
      )
      // a message of exactly that size goes through, Received: and X-Peer added
      const body = "Subject: s\r\n\r\n" + "x".repeat(advertised - 16) + "\r\n"
      expect(body.length).toBe(advertised)
      const replies = await converse({ port: relay.port }, [
        "EHLO c\r\n",
        `MAIL FROM:<a@b.example> SIZE=${advertised}\r\n`,
        "RCPT TO:<bob@example.com>\r\n",
        "DATA\r\n",
        `${body}.\r\n`,
        "QUIT\r\n"
      ])
      expect(replies.slice(2, 6).map((reply) => reply.slice(0, 3))).toEqual(["250", "250", "354", "250"])
      expect(JSON.parse(upstream.stdout().trim()).size).toBeGreaterThan(advertised)
    } finally {
      for (const server of [relay, alone, upstream]) await server.stop("SIGTERM")
    }
  })

  it("relays with -c PureProxy to an LMTP upstream on a Unix socket (lmtp:unix:/path)", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-cli-"))
    try {
      const path = Path.join(dir, "lmtp.sock")
      const maildir = Path.join(dir, "mail")
      const store = await start(["-c", "Maildir", "--maildir", maildir, "--lmtp", `unix:${path}`], /listening on unix:/)
      const relay = await start(["-c", "PureProxy", "127.0.0.1:0", `lmtp:unix:${path}`])
      try {
        const replies = await converse({ port: relay.port }, [
          "EHLO c\r\n",
          "MAIL FROM:<a@b.example>\r\n",
          "RCPT TO:<bob@example.com>\r\n",
          "RCPT TO:<carol@example.com>\r\n",
          "DATA\r\n",
          "Subject: via lmtp\r\n\r\nrelayed\r\n.\r\n",
          "QUIT\r\n"
        ])
        expect(replies.slice(2, 7).map((reply) => reply.slice(0, 3))).toEqual(["250", "250", "250", "354", "250"])
        const [file, ...others] = Fs.readdirSync(Path.join(maildir, "new"))
        expect(others).toEqual([])
        const stored = Fs.readFileSync(Path.join(maildir, "new", file!), "utf8").replaceAll("\r\n\t", " ")
        // the store's Received: (LMTP, from the relay over the socket) on top of the relay's (ESMTP)
        expect(stored).toMatch(
          /Received: from \S+ by \S+ with LMTP id [^\r]*\r\nReceived: from c \(\[127\.0\.0\.1\]\) by \S+ with ESMTP/
        )
        expect(stored).toContain("X-Peer: 127.0.0.1\r\nSubject: via lmtp\r\n\r\nrelayed\r\n")
      } finally {
        await relay.stop("SIGTERM")
        await store.stop("SIGTERM")
      }
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses an upstream address it cannot read", async () => {
    const [result] = await runAll([["-c", "PureProxy", "127.0.0.1:0", "lmtp:nowhere"]])
    expect(result!.status).toBe(2)
    expect(result!.stderr).toContain("host:port or unix:/path, optionally after lmtp:")
  })
})
