import { assert, describe, expect, layer } from "@effect/vitest"
import { Cause, Context, Duration, Effect, Exit, Layer, Logger, Option, References } from "effect"
import type { Scope } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Tls from "node:tls"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as NodeTls from "../../src/node/NodeTls.js"
import * as NodeTransport from "../../src/node/NodeTransport.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { pythonOk, runProcess } from "../utils/process.js"
import * as TestTls from "../utils/tls.js"
import { skipWithout } from "../utils/tools.js"

// What the handler saw of each accepted message.
interface Seen {
  readonly session: SessionInfo
  readonly data: string
}

// A logged line, as the server's logger saw it.
interface Logged {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

// A server with a handler that keeps each message with its session, and a logger that keeps
// each log line, in the current scope.
const start = (options: NodeSmtpServer.Options) =>
  Effect.gen(function* () {
    const seen: Array<Seen> = []
    const logs: Array<Logged> = []
    const handler = MessageHandler.make({
      data: (session, message) =>
        Effect.flatMap(Message.text(message), (data) => Effect.sync(() => void seen.push({ session, data })))
    })
    const logger = Logger.make(({ fiber, logLevel, message }) => {
      logs.push({
        // as Effect 3 labelled levels ("INFO", "DEBUG")
        level: logLevel.toUpperCase(),
        message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
      })
    })
    const context = yield* Layer.build(
      NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "mx.test", shutdownGrace: "1 second", ...options }).pipe(
        Layer.provide(Layer.succeed(MessageHandler.MessageHandler, handler)),
        Layer.provide(Logger.layer([logger])),
        Layer.provide(Layer.succeed(References.MinimumLogLevel, "Debug"))
      )
    )
    const server = Context.get(context, SmtpServer)
    return {
      server,
      seen,
      logs,
      port: server.addresses[0]?.port ?? 0,
      tlsPort: server.tlsAddresses[0]?.port ?? 0
    }
  })

const tlsOptions = (certs: TestTls.TestCertificates, extra: Partial<NodeTls.Options> = {}): NodeTls.Options => ({
  certFile: certs.localhost.certFile,
  keyFile: certs.localhost.keyFile,
  ...extra
})

// A line client over any socket: send text, read whole replies (the last line has a space after
// its code); "" once the server has closed.
const lineClient = (socket: Net.Socket) => {
  let buffer = ""
  let closed = false
  const waiters: Array<() => void> = []
  const wake = () => waiters.splice(0).forEach((w) => w())
  const onData = (d: Buffer) => {
    buffer += d.toString("latin1")
    wake()
  }
  socket.on("data", onData)
  socket.on("close", () => {
    closed = true
    wake()
  })
  socket.on("error", () => {})
  const reply: Effect.Effect<string> = Effect.callback<string>((resume) => {
    const check = () => {
      const match = /^(?:\d{3}-[^\n]*\n)*\d{3} [^\n]*\n/.exec(buffer)
      if (match) {
        buffer = buffer.slice(match[0].length)
        resume(Effect.succeed(match[0]))
      } else if (closed) resume(Effect.succeed(""))
      else waiters.push(check)
    }
    check()
  })
  return {
    socket,
    send: (text: string) => Effect.sync(() => void socket.write(text)),
    reply,
    /** What came and was not read as a reply. */
    rest: Effect.sync(() => buffer),
    closed: Effect.callback<void>((resume) => {
      if (closed) return resume(Effect.void)
      socket.once("close", () => resume(Effect.void))
    }),
    /** Stops reading here: the socket is handed to TLS. */
    release: () => socket.off("data", onData)
  }
}

const connect = (port: number): Effect.Effect<ReturnType<typeof lineClient>, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port }, () => resume(Effect.succeed(socket)))
      socket.once("error", (e) => resume(Effect.fail(e)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map(lineClient))

// a TLS client, directly (implicit TLS) or over a connected socket (after STARTTLS's 220)
const connectTls = (
  options: Tls.ConnectionOptions
): Effect.Effect<ReturnType<typeof lineClient> & { readonly tls: Tls.TLSSocket }, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Tls.TLSSocket, Error>((resume) => {
      const socket = Tls.connect(options, () => resume(Effect.succeed(socket)))
      socket.once("error", (e) => resume(Effect.fail(e)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map((tls) => ({ ...lineClient(tls), tls })))

const openssl = (args: ReadonlyArray<string>) =>
  runProcess("openssl", ["s_client", ...args], { timeout: "10 seconds" }).pipe(
    Effect.map((result) => `${result.stdout}\n${result.stderr}`)
  )

// the certificates are made with openssl; clients are Python, swaks and openssl
describe.skipIf(skipWithout("openssl", "python3", "swaks", "net-ssleay"))("with outside tools", () => {
  layer(TestTls.layer, { excludeTestServices: true })("TLS", (it) => {
    describe("certificates", () => {
      it.effect("a missing file, a file that is no certificate, or a key of another certificate fail at start", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const missing = Path.join(certs.dir, "missing.pem")
          const cases: ReadonlyArray<readonly [NodeTls.Options, RegExp]> = [
            [tlsOptions(certs, { certFile: missing }), /cannot read the certificate file .*missing\.pem: ENOENT/],
            [tlsOptions(certs, { certFile: certs.localhost.keyFile }), /localhost\.key holds no PEM certificate/],
            [
              tlsOptions(certs, { keyFile: certs.localhost.certFile }),
              /localhost\.pem holds no unencrypted PEM private key/
            ],
            [
              tlsOptions(certs, { keyFile: certs.other.keyFile }),
              /the key in .*other\.key does not belong to the certificate in .*localhost\.pem/
            ],
            [tlsOptions(certs, { caFile: missing }), /cannot read the CA file .*missing\.pem/],
            [
              tlsOptions(certs, {
                sni: { "other.test": { certFile: certs.other.certFile, keyFile: certs.client.keyFile } }
              }),
              /the key in .*client\.key does not belong to the certificate in .*other\.pem/
            ],
            [tlsOptions(certs, { sni: { "bad name": certs.other } }), /sni: "bad name" is not a host name/]
          ]
          for (const [options, message] of cases) {
            const loaded = yield* Effect.exit(NodeTls.load(options))
            assert(Exit.isFailure(loaded))
            const error = Option.getOrUndefined(Cause.findErrorOption(loaded.cause))
            assert(error instanceof NodeTls.TlsConfigError, String(loaded.cause))
            expect(error.message).toMatch(message)
            // never key material in a message
            expect(error.message).not.toContain("PRIVATE KEY")
            const started = yield* Effect.exit(Effect.scoped(start({ tls: options })))
            assert(Exit.isFailure(started))
            expect(String(started.cause)).toMatch(message)
          }
        })
      )

      it.effect("tlsListen without tls fails at start; no STARTTLS offered without tls", () =>
        Effect.gen(function* () {
          const started = yield* Effect.exit(Effect.scoped(start({ tlsListen: "127.0.0.1:0" })))
          assert(Exit.isFailure(started))
          expect(String(started.cause)).toContain("tlsListen needs tls")
          const { port, server } = yield* start({})
          expect(server.tlsAddresses).toEqual([])
          // reloading nothing is fine
          yield* server.reloadTls
          const client = yield* connect(port)
          yield* client.reply
          yield* client.send("EHLO c\r\n")
          expect(yield* client.reply).not.toContain("STARTTLS")
        })
      )
    })

    describe("the transport", () => {
      // a raw server socket made into a transport, and a client connected to it
      const pair = (options: NodeTransport.Options) =>
        Effect.gen(function* () {
          const accepted = yield* Effect.acquireRelease(
            Effect.callback<{ readonly server: Net.Server; readonly port: number }>((resume) => {
              const server = Net.createServer({ allowHalfOpen: true })
              server.listen({ host: "127.0.0.1", port: 0 }, () =>
                resume(Effect.succeed({ server, port: (server.address() as Net.AddressInfo).port }))
              )
            }),
            ({ server }) => Effect.sync(() => server.close())
          )
          const socket = Effect.callback<Net.Socket>((resume) => {
            accepted.server.once("connection", (s) => resume(Effect.succeed(s)))
          })
          const [serverSocket, client] = yield* Effect.all([socket, connect(accepted.port)], { concurrency: 2 })
          yield* Effect.addFinalizer(() => Effect.sync(() => serverSocket.destroy()))
          return { transport: NodeTransport.make(serverSocket, options), client }
        })

      const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? "(end)" : Buffer.from(bytes).toString())

      it.effect("acceptTls: the handshake on the same connection, queued plaintext dropped, no second STARTTLS", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const contexts = yield* NodeTls.load(tlsOptions(certs))
          const { client, transport } = yield* pair({ startTls: contexts })
          assert(transport.acceptTls !== undefined)
          expect(transport.secure).toBe(false)
          expect(transport.tls).toBeUndefined()
          yield* client.send("STARTTLS\r\n")
          expect(text(yield* transport.read(Duration.seconds(1)))).toBe("STARTTLS\r\n")
          expect(transport.hasInput?.()).toBe(false)
          // injected after STARTTLS, before the handshake: must be dropped
          yield* client.send("NOOP\r\n")
          while (transport.hasInput?.() !== true) yield* Effect.sleep("5 millis")
          yield* transport.write("220 2.0.0 Ready to start TLS\r\n")
          expect(yield* client.reply).toBe("220 2.0.0 Ready to start TLS\r\n")
          client.release()
          const [secured, tlsClient] = yield* Effect.all(
            [transport.acceptTls(), connectTls({ socket: client.socket, ca: certs.ca.cert, servername: "localhost" })],
            { concurrency: 2 }
          )
          expect(secured.secure).toBe(true)
          expect(secured.acceptTls).toBeUndefined()
          expect(secured.tls?.protocol).toBe(tlsClient.tls.getProtocol())
          expect(secured.tls?.cipher).toBe(tlsClient.tls.getCipher().standardName)
          expect(secured.tls?.servername).toBe("localhost")
          expect(secured.tls?.clientCertificate).toBeUndefined()
          expect(secured.remote.port).toBe(client.socket.localPort)
          yield* tlsClient.send("EHLO c\r\n")
          expect(text(yield* secured.read(Duration.seconds(1)))).toBe("EHLO c\r\n")
          yield* secured.write("250 ok\r\n")
          expect(yield* tlsClient.reply).toBe("250 ok\r\n")
          // the plaintext transport is done with: it neither reads nor writes
          expect(yield* transport.read(Duration.seconds(1))).toBeUndefined()
          expect(Exit.isFailure(yield* Effect.exit(transport.write("x")))).toBe(true)
          yield* tlsClient.send("QUIT\r\n")
          expect(text(yield* secured.read(Duration.seconds(1)))).toBe("QUIT\r\n")
          // closing the plaintext transport closes the connection, which is now the TLS one
          yield* transport.close
          yield* tlsClient.closed
          expect(tlsClient.tls.destroyed).toBe(true)
        })
      )

      it.effect("acceptTls fails and closes the connection on a failed or slow handshake", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const contexts = yield* NodeTls.load(tlsOptions(certs, { handshakeTimeout: "300 millis" }))
          const garbage = yield* pair({ startTls: contexts })
          yield* garbage.client.send("this is not a TLS record\r\n")
          const failed = yield* Effect.exit(garbage.transport.acceptTls!())
          assert(Exit.isFailure(failed))
          yield* garbage.client.closed
          const silent = yield* pair({ startTls: contexts })
          const started = Date.now()
          const timedOut = yield* Effect.exit(silent.transport.acceptTls!())
          assert(Exit.isFailure(timedOut))
          expect(String(Option.getOrUndefined(Cause.findErrorOption(timedOut.cause))?.cause)).toContain("timed out")
          expect(Date.now() - started).toBeGreaterThanOrEqual(250)
          yield* silent.client.closed
        })
      )

      it.effect("without certificates there is no acceptTls; hasInput tells of early input", () =>
        Effect.gen(function* () {
          const { client, transport } = yield* pair({})
          expect(transport.acceptTls).toBeUndefined()
          expect(transport.hasInput?.()).toBe(false)
          yield* client.send("EHLO early\r\n")
          while (transport.hasInput?.() !== true) yield* Effect.sleep("5 millis")
          expect(text(yield* transport.read(Duration.seconds(1)))).toBe("EHLO early\r\n")
          expect(transport.hasInput?.()).toBe(false)
        })
      )

      it.effect("client certificates: authorized when the CA signed them, not otherwise, absent when none", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const stranger = yield* certs.issue("stranger.test", "stranger", { client: true, selfSigned: true })
          const contexts = yield* NodeTls.load(
            tlsOptions(certs, { caFile: certs.ca.certFile, requestClientCert: true })
          )
          const handshake = (clientCert: TestTls.Issued | undefined) =>
            Effect.gen(function* () {
              const { client, transport } = yield* pair({ startTls: contexts })
              client.release()
              const [secured] = yield* Effect.all(
                [
                  transport.acceptTls!(),
                  connectTls({
                    socket: client.socket,
                    ca: certs.ca.cert,
                    servername: "localhost",
                    ...(clientCert !== undefined ? { cert: clientCert.cert, key: clientCert.key } : {})
                  })
                ],
                { concurrency: 2 }
              )
              return secured.tls
            })
          const signed = yield* handshake(certs.client)
          expect(signed?.clientCertificate).toEqual({
            subject: "CN=client.test",
            issuer: "CN=effect-smtpd test CA",
            fingerprint256: certs.client.fingerprint256,
            authorized: true
          })
          const unsigned = yield* handshake(stranger)
          expect(unsigned?.clientCertificate?.subject).toBe("CN=stranger.test")
          expect(unsigned?.clientCertificate?.authorized).toBe(false)
          const none = yield* handshake(undefined)
          expect(none?.clientCertificate).toBeUndefined()
        })
      )
    })

    describe("STARTTLS", () => {
      it.effect("smtplib delivers over STARTTLS; the handler sees the TLS session", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { port, seen } = yield* start({ tls: tlsOptions(certs) })
          const out = yield* pythonOk(
            `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]))
s.ehlo()
print("offered before:", s.has_extn("starttls"))
s.starttls(context=ctx)
s.ehlo()
print("offered after:", s.has_extn("starttls"))
print("tls:", s.sock.version(), s.sock.cipher()[0])
s.sendmail("a@x.test", ["b@y.test"], "Subject: hi\\r\\n\\r\\nover STARTTLS\\r\\n")
s.quit()
`,
            [certs.ca.certFile, String(port)]
          )
          expect(out).toContain("offered before: True")
          expect(out).toContain("offered after: False")
          const [, protocol, cipher] = /^tls: (\S+) (\S+)$/m.exec(out) ?? []
          expect(seen).toHaveLength(1)
          const { data, session } = seen[0]!
          expect(data).toContain("over STARTTLS")
          expect(session.secure).toBe(true)
          expect(session.tls?.protocol).toBe(protocol)
          expect(session.tls?.cipher).toBe(cipher)
          expect(session.tls?.servername).toBeUndefined()
          expect(session.tls?.clientCertificate).toBeUndefined()
        })
      )

      it.effect("swaks --tls delivers, the certificate verified", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { port, seen } = yield* start({ tls: tlsOptions(certs) })
          const result = yield* runProcess("swaks", [
            "--server",
            `127.0.0.1:${port}`,
            "--from",
            "a@x.test",
            "--to",
            "swaks@y.test",
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            certs.ca.certFile,
            "--tls-sni",
            "localhost",
            "--body",
            "sent by swaks over TLS"
          ])
          expect(result.exitCode, result.stdout + result.stderr).toBe(0)
          expect(result.stdout).toMatch(/TLS started with cipher/)
          expect(seen).toHaveLength(1)
          expect(seen[0]!.data).toContain("sent by swaks over TLS")
          expect(seen[0]!.session.tls?.servername).toBe("localhost")
        })
      )

      it.effect("openssl s_client -starttls smtp: protocol, cipher and a verified certificate", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { port } = yield* start({ tls: tlsOptions(certs), idleTimeout: "1 second" })
          const out = yield* openssl([
            "-connect",
            `127.0.0.1:${port}`,
            "-starttls",
            "smtp",
            "-CAfile",
            certs.ca.certFile,
            "-verify_return_error",
            "-ign_eof"
          ])
          expect(out, out).toContain("Verify return code: 0 (ok)")
          expect(out).toMatch(/New, TLSv1\.[23], Cipher is \S+/)
          // the session goes on encrypted, until the idle timeout
          expect(out).toMatch(/^421 /m)
        })
      )

      it.effect("garbage after the 220 ends that connection; the server goes on serving", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { port, seen } = yield* start({ tls: tlsOptions(certs) })
          const bad = yield* connect(port)
          yield* bad.reply
          yield* bad.send("EHLO c\r\n")
          yield* bad.reply
          yield* bad.send("STARTTLS\r\n")
          expect(yield* bad.reply).toBe("220 2.0.0 Ready to start TLS\r\n")
          yield* bad.send("this is no ClientHello\r\nMAIL FROM:<a@x.test>\r\n")
          yield* bad.closed
          expect(yield* bad.rest).not.toMatch(/250/)
          const out = yield* pythonOk(
            `
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]))
s.starttls(context=ssl.create_default_context(cafile=sys.argv[1]))
s.sendmail("a@x.test", ["b@y.test"], "Subject: next\\r\\n\\r\\nthe next client\\r\\n")
s.quit()
print("sent")
`,
            [certs.ca.certFile, String(port)]
          )
          expect(out).toContain("sent")
          expect(seen.map((s) => s.data)).toEqual(["Subject: next\r\n\r\nthe next client\r\n"])
        })
      )

      it.effect("plaintext pipelined after STARTTLS is discarded, never answered inside TLS", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          // the pipelining police would close this client before STARTTLS: let it through
          const { port, seen } = yield* start({ tls: tlsOptions(certs), forbidUnauthPipelining: false })
          const client = yield* connect(port)
          yield* client.reply
          yield* client.send("EHLO c\r\n")
          yield* client.reply
          yield* client.send("STARTTLS\r\nNOOP\r\nMAIL FROM:<injected@evil.test>\r\n")
          expect(yield* client.reply).toBe("220 2.0.0 Ready to start TLS\r\n")
          expect(yield* client.rest).toBe("")
          client.release()
          const secured = yield* connectTls({ socket: client.socket, ca: certs.ca.cert, servername: "localhost" })
          // the first reply inside TLS answers the first command sent inside TLS
          yield* secured.send("EHLO c\r\n")
          const ehlo = yield* secured.reply
          expect(ehlo).toMatch(/^250-mx\.test/)
          expect(ehlo).not.toContain("STARTTLS")
          yield* secured.send("QUIT\r\n")
          expect(yield* secured.reply).toMatch(/^221 /)
          yield* secured.closed
          expect(yield* secured.rest).toBe("")
          expect(seen).toEqual([])
        })
      )

      it.effect("a client certificate is reported to the handler, authorized when the CA signed it", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { port, seen } = yield* start({
            tls: tlsOptions(certs, { caFile: certs.ca.certFile, requestClientCert: true })
          })
          yield* pythonOk(
            `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]))
s.starttls(context=ctx)
s.sendmail("a@x.test", ["b@y.test"], "Subject: hi\\r\\n\\r\\nwith a client certificate\\r\\n")
s.quit()
`,
            [certs.ca.certFile, String(port), certs.client.certFile, certs.client.keyFile]
          )
          expect(seen).toHaveLength(1)
          expect(seen[0]!.session.tls?.clientCertificate).toEqual({
            subject: "CN=client.test",
            issuer: "CN=effect-smtpd test CA",
            fingerprint256: certs.client.fingerprint256,
            authorized: true
          })
        })
      )
    })

    describe("implicit TLS", () => {
      it.effect("smtplib's SMTP_SSL delivers; the session is secure and offers no STARTTLS", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { seen, server, tlsPort } = yield* start({ tls: tlsOptions(certs), tlsListen: "127.0.0.1:0" })
          expect(server.tlsAddresses.map((a) => a.address)).toEqual(["127.0.0.1"])
          expect(server.addresses.map((a) => a.address)).toEqual(["127.0.0.1"])
          expect(tlsPort).not.toBe(server.addresses[0]!.port)
          const out = yield* pythonOk(
            `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = smtplib.SMTP_SSL("localhost", int(sys.argv[2]), context=ctx)
s.ehlo()
print("starttls offered:", s.has_extn("starttls"))
print(s.sock.version(), s.sock.cipher()[0])
s.sendmail("a@x.test", ["b@y.test"], "Subject: hi\\r\\n\\r\\nover implicit TLS\\r\\n")
s.quit()
`,
            [certs.ca.certFile, String(tlsPort)]
          )
          expect(out).toContain("starttls offered: False")
          expect(seen).toHaveLength(1)
          expect(seen[0]!.data).toContain("over implicit TLS")
          expect(seen[0]!.session.secure).toBe(true)
          expect(seen[0]!.session.peer.address).toBe("127.0.0.1")
        })
      )

      it.effect("openssl s_client gets the greeting after the handshake, the certificate verified", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { tlsPort } = yield* start({
            tls: tlsOptions(certs),
            tlsListen: "127.0.0.1:0",
            idleTimeout: "1 second"
          })
          const out = yield* openssl([
            "-connect",
            `127.0.0.1:${tlsPort}`,
            "-CAfile",
            certs.ca.certFile,
            "-verify_return_error",
            "-ign_eof"
          ])
          expect(out).toContain("Verify return code: 0 (ok)")
          expect(out).toMatch(/^220 mx\.test ESMTP/m)
          expect(out, out).toMatch(/^421 /m)
        })
      )

      it.effect("SNI picks the certificate by name, exact or wildcard; the main one otherwise", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { tlsPort } = yield* start({
            tls: tlsOptions(certs, { sni: { "other.test": certs.other, "*.wild.test": certs.client } }),
            tlsListen: "127.0.0.1:0"
          })
          const subject = (servername: string | undefined) =>
            Effect.gen(function* () {
              const client = yield* connectTls({
                host: "127.0.0.1",
                port: tlsPort,
                rejectUnauthorized: false,
                ...(servername !== undefined ? { servername } : {})
              })
              return client.tls.getPeerCertificate().subject.CN
            }).pipe(Effect.scoped)
          expect(yield* subject("other.test")).toBe("other.test")
          expect(yield* subject("OTHER.test")).toBe("other.test")
          expect(yield* subject("a.wild.test")).toBe("client.test")
          expect(yield* subject("a.b.wild.test")).toBe("localhost")
          expect(yield* subject("wild.test")).toBe("localhost")
          expect(yield* subject("localhost")).toBe("localhost")
          expect(yield* subject(undefined)).toBe("localhost")
          // and as openssl sees it
          const other = yield* openssl(["-connect", `127.0.0.1:${tlsPort}`, "-servername", "other.test"])
          expect(other).toMatch(/subject=CN ?= ?other\.test/)
          const main = yield* openssl(["-connect", `127.0.0.1:${tlsPort}`, "-noservername"])
          expect(main).toMatch(/subject=CN ?= ?localhost/)
        })
      )

      it.effect("a failed handshake closes that connection only; the server goes on serving", () =>
        Effect.gen(function* () {
          const certs = yield* TestTls.Certificates
          const { logs, seen, tlsPort } = yield* start({
            tls: tlsOptions(certs, { handshakeTimeout: "300 millis" }),
            tlsListen: "127.0.0.1:0"
          })
          const failures = () => logs.filter((line) => line.message.startsWith("TLS handshake failed"))
          // a plain SMTP client on the TLS port
          const plain = yield* connect(tlsPort)
          const plainPort = plain.socket.localPort
          yield* plain.send("EHLO plain\r\n")
          yield* plain.closed
          expect(yield* plain.rest).not.toMatch(/^2/)
          // a client that says nothing
          const silent = yield* connect(tlsPort)
          const silentPort = silent.socket.localPort
          const started = Date.now()
          yield* silent.closed
          expect(Date.now() - started).toBeGreaterThanOrEqual(250)
          // one line each, at Info, with the peer and a reason, without a stack
          expect(failures()).toEqual([
            {
              level: "INFO",
              message: expect.stringMatching(/^TLS handshake failed: .*(wrong version|http request|record)/),
              annotations: { peer: `127.0.0.1:${plainPort}` }
            },
            {
              level: "INFO",
              message: "TLS handshake failed: TLS handshake timed out",
              annotations: { peer: `127.0.0.1:${silentPort}` }
            }
          ])
          // a client that leaves before its handshake is not news
          const leaving = yield* connect(tlsPort)
          leaving.socket.destroy()
          while (failures().length < 3) yield* Effect.sleep("5 millis")
          expect(failures()[2], JSON.stringify(failures()[2])).toMatchObject({ level: "DEBUG" })
          // then a good one
          const good = yield* connectTls({
            host: "127.0.0.1",
            port: tlsPort,
            ca: certs.ca.cert,
            servername: "localhost"
          })
          expect(yield* good.reply).toMatch(/^220 mx\.test/)
          yield* good.send("EHLO c\r\n")
          yield* good.reply
          yield* good.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
          for (let i = 0; i < 3; i++) expect(yield* good.reply).toMatch(/^(250|354) /)
          yield* good.send("after the failures\r\n.\r\nQUIT\r\n")
          expect(yield* good.reply).toMatch(/^250 /)
          expect(seen.map((s) => s.data)).toEqual(["after the failures\r\n"])
        })
      )

      it.effect(
        "reloadTls: new connections get the new certificate, an open session goes on; bad files change nothing",
        () =>
          Effect.gen(function* () {
            const certs = yield* TestTls.Certificates
            const certFile = Path.join(certs.dir, "reload.pem")
            const keyFile = Path.join(certs.dir, "reload.key")
            Fs.copyFileSync(certs.localhost.certFile, certFile)
            Fs.copyFileSync(certs.localhost.keyFile, keyFile)
            const { seen, server, tlsPort } = yield* start({ tls: { certFile, keyFile }, tlsListen: "127.0.0.1:0" })
            const fingerprint = Effect.gen(function* () {
              const client = yield* connectTls({
                host: "127.0.0.1",
                port: tlsPort,
                ca: certs.ca.cert,
                servername: "localhost"
              })
              return client.tls.getPeerCertificate().fingerprint256
            }).pipe(Effect.scoped)
            expect(yield* fingerprint).toBe(certs.localhost.fingerprint256)

            const open = yield* connectTls({
              host: "127.0.0.1",
              port: tlsPort,
              ca: certs.ca.cert,
              servername: "localhost"
            })
            expect(yield* open.reply).toMatch(/^220 /)
            yield* open.send("EHLO c\r\n")
            yield* open.reply

            const renewed = yield* certs.issue("localhost", "renewed", { ip: ["127.0.0.1"] })
            Fs.copyFileSync(renewed.certFile, certFile)
            Fs.copyFileSync(renewed.keyFile, keyFile)
            yield* server.reloadTls
            expect(yield* fingerprint).toBe(renewed.fingerprint256)
            expect(renewed.fingerprint256).not.toBe(certs.localhost.fingerprint256)

            // a key that does not match: the reload fails, the renewed certificate stays
            Fs.copyFileSync(certs.other.keyFile, keyFile)
            const bad = yield* Effect.exit(server.reloadTls)
            assert(Exit.isFailure(bad))
            expect(String(bad.cause)).toContain("TlsConfigError")
            expect(String(bad.cause)).toContain("does not belong to the certificate")
            Fs.rmSync(certFile)
            const gone = yield* Effect.exit(server.reloadTls)
            assert(Exit.isFailure(gone))
            expect(String(gone.cause)).toContain("ENOENT")
            expect(yield* fingerprint).toBe(renewed.fingerprint256)

            // the session opened before the reload is undisturbed
            expect(open.tls.getPeerCertificate().fingerprint256).toBe(certs.localhost.fingerprint256)
            yield* open.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
            for (let i = 0; i < 3; i++) expect(yield* open.reply).toMatch(/^(250|354) /)
            yield* open.send("from before the reload\r\n.\r\nQUIT\r\n")
            expect(yield* open.reply).toMatch(/^250 /)
            expect(seen.map((s) => s.data)).toEqual(["from before the reload\r\n"])
          })
      )
    })
  })
})
