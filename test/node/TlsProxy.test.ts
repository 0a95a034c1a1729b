// A PROXY header in front of implicit TLS: a proxy in `mode tcp` passes the client's TLS through
// and sends the header first, in clear (HAProxy's `send-proxy` to a port-465 backend). The
// client here is Python: a raw socket, the header, then the TLS handshake over it.
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { python } from "../utils/process.js"
import { withServer } from "../utils/server.js"
import * as TestTls from "../utils/tls.js"
import { skipWithout } from "../utils/tools.js"

// sends one message over implicit TLS to `port`, first writing `header` (hex) on the raw socket.
// corked: the header and the client's first handshake bytes leave in one segment (TCP_CORK
// holds them, at most 200 ms). Prints "sent", or the error that stopped it.
const send = (port: number, ca: string, header: string, options: { readonly corked?: boolean } = {}) =>
  python(
    `
import smtplib, socket, ssl, sys
port, ca, header, corked = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3]), sys.argv[4] == "1"
class Proxied(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        raw = socket.create_connection((host, port), timeout)
        if corked:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        raw.sendall(header)
        return self.context.wrap_socket(raw, server_hostname="localhost")
try:
    s = Proxied("127.0.0.1", port, timeout=10, context=ssl.create_default_context(cafile=ca))
    s.sendmail("a@x.test", ["b@y.test"], "Subject: hi\\r\\n\\r\\nbehind a proxy\\r\\n")
    s.quit()
    print("sent")
except Exception as e:
    print(type(e).__name__)
`,
    [String(port), ca, header, options.corked === true ? "1" : "0"]
  ).pipe(Effect.map((result) => result.stdout.trim()))

const v1 = (line: string) => Buffer.from(line, "latin1").toString("hex")

// PROXY v2, TCP over IPv4: the signature, version 2 PROXY, AF_INET STREAM, 12 bytes of addresses
const v2 = (source: string, sourcePort: number, destination: string, destinationPort: number) => {
  const ip = (address: string) => address.split(".").map(Number)
  const port = (n: number) => [n >> 8, n & 0xff]
  return Buffer.from([
    ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
    0x21,
    0x11,
    0x00,
    0x0c,
    ...ip(source),
    ...ip(destination),
    ...port(sourcePort),
    ...port(destinationPort)
  ]).toString("hex")
}

const serve = (certs: TestTls.TestCertificates, proxyProtocolFrom: ReadonlyArray<string>) =>
  Effect.map(
    withServer({
      tls: { certFile: certs.localhost.certFile, keyFile: certs.localhost.keyFile },
      tlsListen: "127.0.0.1:0",
      proxyProtocolFrom,
      proxyTimeout: "1 second"
    }),
    (server) => ({ ...server, tlsPort: server.tlsAddresses[0]!.port })
  )

// the certificates are made with openssl; clients are Python, swaks and openssl
describe.skipIf(skipWithout("openssl", "python3"))("with outside tools", () => {
  layer(TestTls.layer, { excludeTestServices: true })("PROXY header before implicit TLS", (it) => {
    it.effect("from a trusted proxy: the header is read before the handshake, and the peer is the client", () =>
      Effect.gen(function* () {
        const certs = yield* TestTls.Certificates
        const server = yield* serve(certs, ["127.0.0.1/32"])
        const header = v1("PROXY TCP4 192.0.2.7 127.0.0.1 40001 465\r\n")
        expect(yield* send(server.tlsPort, certs.ca.certFile, header)).toBe("sent")
        // the header and the handshake in one segment: the bytes past the header go to TLS
        expect(yield* send(server.tlsPort, certs.ca.certFile, header, { corked: true })).toBe("sent")
        expect(yield* send(server.tlsPort, certs.ca.certFile, v2("198.51.100.9", 40002, "127.0.0.1", 465))).toBe("sent")
        const deliveries = yield* server.deliveries
        expect(deliveries.map((d) => d.peer)).toEqual([
          { address: "192.0.2.7", port: 40001 },
          { address: "192.0.2.7", port: 40001 },
          { address: "198.51.100.9", port: 40002 }
        ])
      })
    )

    it.effect("a LOCAL header (a health check) keeps the connection's own address", () =>
      Effect.gen(function* () {
        const certs = yield* TestTls.Certificates
        const server = yield* serve(certs, ["127.0.0.1/32"])
        expect(yield* send(server.tlsPort, certs.ca.certFile, v1("PROXY UNKNOWN\r\n"))).toBe("sent")
        const deliveries = yield* server.deliveries
        expect(deliveries.map((d) => d.peer.address)).toEqual(["127.0.0.1"])
      })
    )

    it.effect("from a trusted proxy without a header, or with a broken one: closed, nothing delivered", () =>
      Effect.gen(function* () {
        const certs = yield* TestTls.Certificates
        const server = yield* serve(certs, ["127.0.0.1/32"])
        // the client's handshake where the header should be
        expect(yield* send(server.tlsPort, certs.ca.certFile, "")).not.toBe("sent")
        expect(yield* send(server.tlsPort, certs.ca.certFile, v1("PROXY TCP4 nonsense\r\n"))).not.toBe("sent")
        expect(yield* server.deliveries).toEqual([])
        // and the listener goes on
        expect(yield* send(server.tlsPort, certs.ca.certFile, v1("PROXY TCP4 192.0.2.7 127.0.0.1 1 465\r\n"))).toBe(
          "sent"
        )
      })
    )

    it.effect("from anyone else no header is read: the handshake comes first, as without a proxy", () =>
      Effect.gen(function* () {
        const certs = yield* TestTls.Certificates
        const server = yield* serve(certs, ["192.0.2.0/24"])
        expect(yield* send(server.tlsPort, certs.ca.certFile, "")).toBe("sent")
        expect(yield* send(server.tlsPort, certs.ca.certFile, v1("PROXY TCP4 192.0.2.7 127.0.0.1 1 465\r\n"))).not.toBe(
          "sent"
        )
        const deliveries = yield* server.deliveries
        expect(deliveries.map((d) => d.peer.address)).toEqual(["127.0.0.1"])
      })
    )
  })
})
