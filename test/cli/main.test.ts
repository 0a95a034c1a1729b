import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { skipWithout } from "../utils/tools.js"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"

// The command as users run it: a separate process, its stdout, stderr and exit status.
const main = builtCommand()
const node = process.execPath

const runOnce = (args: ReadonlyArray<string>) => spawnSync(node, [main, ...args], { encoding: "utf8", timeout: 30_000 })
const { runAll, start } = CliProcess.runner(main)

const sendWithPython = (port: number, recipients: ReadonlyArray<string> = ["bob@example.com"]) => {
  const script = [
    "import smtplib",
    `s = smtplib.SMTP("127.0.0.1", ${port})`,
    `s.sendmail("alice@example.com", ${JSON.stringify(recipients)}, b"Subject: cli test\\r\\n\\r\\nHello from the test\\r\\n")`,
    "s.quit()"
  ].join("\n")
  const result = spawnSync("python3", ["-c", script], { encoding: "utf8", timeout: 20_000 })
  expect(result.stderr).toBe("")
  expect(result.status).toBe(0)
}

// the messages are sent with Python's smtplib
const noPython = skipWithout("python3")

describe("effect-smtpd command", () => {
  it("prints its version with -V", () => {
    const result = runOnce(["-V"])
    expect(result.status).toBe(0)
    expect(result.stdout.trim()).toBe("0.1.0")
  })

  it("exits 2 with a message on a wrong flag or value", async () => {
    const runs = [
      ["--size", "-1", "-c", "Sink"],
      ["-c", "Nope"],
      ["-c", "Maildir"],
      ["not-an-address"],
      ["-c", "Sink", "--metrics", "nonsense", "127.0.0.1:0"]
    ]
    const results = await runAll(runs)
    for (const [i, args] of runs.entries()) {
      const result = results[i]!
      expect(result.status, args.join(" ")).toBe(2)
      expect(result.stderr.length + result.stdout.length, args.join(" ")).toBeGreaterThan(0)
    }
    // before listening
    expect(results[4]!.stderr).toContain("--metrics must be host:port, got nonsense")
    expect(results[4]!.stderr).not.toContain("listening")
  })

  it("exits 2 naming the problem for a bad relay, router, TLS or AUTH configuration, before listening", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-cli-"))
    try {
      const routes = Path.join(dir, "routes.json")
      Fs.writeFileSync(
        routes,
        '{\n  "routes": [\n    { "domain": "example.com", "deliver": { "relay": "no-port" } }\n  ]\n}\n'
      )
      // line 2 has no colon: the error names the line, never its text
      const users = Path.join(dir, "users")
      Fs.writeFileSync(users, "alice:secret\nbob-without-password\n")
      const inbox = (...flags: ReadonlyArray<string>) => [
        "-c",
        "Inbox",
        "--web",
        "127.0.0.1:0",
        ...flags,
        "127.0.0.1:0"
      ]
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["-c", "Router", "127.0.0.1:0"], "--class Router needs --routes FILE"],
        [["-c", "Router", "--routes", routes, "127.0.0.1:0"], "line 3: routes[0].deliver.relay: expected host:port"],
        [["-c", "PureProxy", "--upstream-user", "me", "127.0.0.1:0"], "--upstream-user needs a password"],
        [["-c", "PureProxy", "--relay-networks", "10.0.0.0/33", "127.0.0.1:0"], "relayNetworks: bad prefix length"],
        [["-c", "Sink", "--tls-listen", "127.0.0.1:0"], "--tls-listen needs --tls-cert and --tls-key"],
        [["-c", "Sink", "--require-auth", "127.0.0.1:0"], "--require-auth needs --auth-users"],
        [["-c", "Sink", "--auth-users", routes, "127.0.0.1:0"], "--auth-users needs --tls-cert/--tls-key"],
        [["-c", "Sink", "--auth-users", users, "--auth-insecure", "127.0.0.1:0"], ":2:"],
        [["-c", "Sink", "--tls-cert", routes, "--tls-key", routes, "127.0.0.1:0"], "TLS"],
        [inbox("--release-allowed", "x"), "need --release-to"],
        [inbox("--release-to", "nowhere"), "--release-to must be"],
        [
          inbox("--release-to", "127.0.0.1:25", "--release-allowed", "("),
          "--release-allowed is not a regular expression"
        ],
        [
          inbox("--release-to", "127.0.0.1:25", "--release-return-path", "no"),
          "--release-return-path must be an address"
        ]
      ]
      const results = await runAll(cases.map(([args]) => args))
      for (const [i, [args, message]] of cases.entries()) {
        const result = results[i]!
        expect(result.status, args.join(" ")).toBe(2)
        expect(result.stderr, args.join(" ")).toContain(message)
        expect(result.stderr).not.toContain("listening on")
        expect(result.stderr).not.toContain("bob-without-password")
      }
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it.skipIf(noPython)(
    "relays with -c PureProxy to remoteaddr, adding X-Peer (and no Received: with --no-received)",
    async () => {
      const upstream = await start(["--format", "json", "--listen", "127.0.0.1:0"])
      // --no-received: the message arrives as smtpd relayed it, X-Peer and all
      const relay = await start([
        "-c",
        "PureProxy",
        "--no-received",
        "--upstream-tls",
        "off",
        "127.0.0.1:0",
        `127.0.0.1:${upstream.port}`
      ])
      try {
        sendWithPython(relay.port)
        await new Promise((r) => setTimeout(r, 300))
        const record = JSON.parse(upstream.stdout().trim())
        expect(record.mail_from).toBe("alice@example.com")
        expect(record.rcpt_to).toEqual(["bob@example.com"])
        expect(Buffer.from(record.content_b64, "base64").toString()).toBe(
          "X-Peer: 127.0.0.1\r\nSubject: cli test\r\n\r\nHello from the test\r\n"
        )
      } finally {
        await relay.stop("SIGTERM")
        await upstream.stop("SIGTERM")
      }
    }
  )

  it.skipIf(noPython)("routes with -c Router: a Maildir for one address, the relay fallback for the rest", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-cli-"))
    const upstream = await start(["--format", "json", "--listen", "127.0.0.1:0"])
    try {
      const routes = Path.join(dir, "routes.json")
      const maildir = Path.join(dir, "mail")
      Fs.writeFileSync(
        routes,
        JSON.stringify({
          routes: [{ address: "Bob@Example.com", deliver: { maildir } }],
          fallback: { relay: `127.0.0.1:${upstream.port}` }
        })
      )
      const router = await start(["-c", "Router", "--routes", routes, "--upstream-tls", "off", "127.0.0.1:0"])
      try {
        sendWithPython(router.port, ["bob@example.com", "carol@elsewhere.test"])
      } finally {
        await new Promise((r) => setTimeout(r, 300))
        await router.stop("SIGTERM")
      }
      expect(Fs.readdirSync(Path.join(maildir, "new"))).toHaveLength(1)
      expect(JSON.parse(upstream.stdout().trim()).rcpt_to).toEqual(["carol@elsewhere.test"])
    } finally {
      await upstream.stop("SIGTERM")
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it.skipIf(noPython)("runs the debugging server, prints a message as smtpd did, and stops on SIGTERM", async () => {
    const server = await start(["--listen", "127.0.0.1:0"])
    sendWithPython(server.port)
    await new Promise((r) => setTimeout(r, 300))
    const out = server.stdout()
    expect(out).toContain("---------- MESSAGE FOLLOWS ----------")
    expect(out).toContain("Subject: cli test\nX-Peer: 127.0.0.1\n\nHello from the test")
    expect(out).toContain("------------ END MESSAGE ------------")
    expect(await server.stop("SIGTERM")).toBe(0)
  })

  it.skipIf(noPython)("serves its metrics in Prometheus's text format with --metrics", async () => {
    const server = await start(["-c", "Sink", "--metrics", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
    // said right after the listening line
    let at: RegExpExecArray | null = null
    for (let i = 0; i < 100 && at === null; i++) {
      at = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(server.stderr())
      if (at === null) await new Promise((r) => setTimeout(r, 50))
    }
    expect(at, server.stderr()).not.toBeNull()
    const before = await (await fetch(at![1]!)).text()
    // every server metric is there from the start
    expect(before).toMatch(/^smtp_messages_accepted_total 0$/m)
    expect(before).toMatch(/^smtp_messages_rejected_total 0$/m)
    sendWithPython(server.port)
    sendWithPython(server.port, ["bob@example.com", "carol@example.com"])
    const response = await fetch(at![1]!)
    expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4")
    const text = await response.text()
    expect(text).toMatch(/^# TYPE smtp_messages_accepted_total counter$/m)
    expect(text).toMatch(/^smtp_messages_accepted_total 2$/m)
    expect(text).toMatch(/^smtp_connections_total 2$/m)
    expect(text).toMatch(/^smtp_message_size_bytes_count 2$/m)
    expect((await fetch(at![1]!.replace("/metrics", "/other"))).status).toBe(404)
    expect(await server.stop("SIGTERM")).toBe(0)
  })

  it.skipIf(noPython)("prints one JSON line per message with --format json", async () => {
    const server = await start(["--format", "json", "-s", "0", "--listen", "127.0.0.1:0"])
    sendWithPython(server.port)
    await new Promise((r) => setTimeout(r, 300))
    const lines = server.stdout().trim().split("\n")
    expect(lines).toHaveLength(1)
    const record = JSON.parse(lines[0]!)
    expect(record.mail_from).toBe("alice@example.com")
    expect(record.rcpt_to).toEqual(["bob@example.com"])
    expect(Buffer.from(record.content_b64, "base64").toString()).toBe(
      "Subject: cli test\r\n\r\nHello from the test\r\n"
    )
    expect(await server.stop("SIGINT")).toBe(0)
  })

  it.skipIf(noPython)(
    "stores mail with -c Maildir (no Received: with --no-received), tracing the protocol with -d",
    async () => {
      const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-cli-"))
      try {
        const server = await start(["-c", "Maildir", "--maildir", root, "--no-received", "-d", "127.0.0.1:0"])
        sendWithPython(server.port)
        await new Promise((r) => setTimeout(r, 300))
        const files = Fs.readdirSync(Path.join(root, "new"))
        expect(files).toHaveLength(1)
        expect(Fs.readFileSync(Path.join(root, "new", files[0]!), "utf8")).toBe(
          "Return-Path: <alice@example.com>\r\nDelivered-To: bob@example.com\r\nSubject: cli test\r\n\r\nHello from the test\r\n"
        )
        expect(server.stderr()).toContain("<<< mail FROM:<alice@example.com>")
        expect(server.stdout()).toBe("")
        await server.stop("SIGTERM")
      } finally {
        Fs.rmSync(root, { recursive: true, force: true })
      }
    }
  )

  it.skipIf(noPython)("refuses messages over --size with 552", async () => {
    const server = await start(["-c", "Sink", "-s", "100", "--listen", "127.0.0.1:0"])
    const script = [
      "import smtplib",
      `s = smtplib.SMTP("127.0.0.1", ${server.port})`,
      "try:",
      `    s.sendmail("a@example.com", ["b@example.com"], b"x" * 500)`,
      "except smtplib.SMTPResponseException as e:",
      "    print(e.smtp_code)",
      "except smtplib.SMTPSenderRefused as e:",
      "    print(e.smtp_code)"
    ].join("\n")
    const result = spawnSync("python3", ["-c", script], { encoding: "utf8", timeout: 20_000 })
    expect(result.stdout.trim()).toBe("552")
    await server.stop("SIGTERM")
  })
})
