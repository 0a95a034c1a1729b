// -c PureProxy to an upstream with a self-signed certificate (issue 17's third friction): at the
// default level (may) the message goes, encrypted; with --upstream-tls verify it does not (451
// 4.4.1); with the CA given (--upstream-ca) and the upstream's certificate from it, verify goes.
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { ourServer } from "../client/ourServer.js"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"
import * as TestTls from "../utils/tls.js"

const { start } = CliProcess.runner(builtCommand())

// one message through the relay: the replies to MAIL and to the end of data
const relayOne = (port: number) =>
  Effect.promise(() =>
    CliProcess.converse({ port }, [
      "EHLO client.test\r\n",
      "MAIL FROM:<a@example.com>\r\n",
      "RCPT TO:<b@example.net>\r\n",
      "DATA\r\n",
      "Subject: tls levels\r\n\r\nhi\r\n.\r\n",
      "QUIT\r\n"
    ])
  ).pipe(Effect.map((replies) => ({ mail: replies[2]?.slice(0, 9), data: replies[5]?.slice(0, 9) })))

const relay = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(() => start(["-c", "PureProxy", ...args])),
    (running) => Effect.promise(() => running.stop("SIGTERM"))
  )

layer(TestTls.layer, { excludeTestServices: true })("-c PureProxy and the upstream's certificate", (it) => {
  it.effect("self-signed: delivered encrypted at the default level, refused at verify", () =>
    Effect.gen(function* () {
      const certs = yield* TestTls.Certificates
      const self = yield* certs.issue("localhost", "cli-self-signed", { selfSigned: true, ip: ["127.0.0.1"] })
      // (requireTls: the upstream takes no mail before STARTTLS)
      const upstream = yield* ourServer({
        startTls: true,
        requireTls: true,
        tls: { certFile: self.certFile, keyFile: self.keyFile }
      })
      const target = `127.0.0.1:${upstream.port}`
      const byDefault = yield* relay(["127.0.0.1:0", target])
      expect(yield* relayOne(byDefault.port)).toEqual({ mail: "250 2.1.0", data: "250 2.0.0" })
      // the relay opens its upstream transaction at MAIL: that is where it says no
      const verifying = yield* relay(["--upstream-tls", "verify", "127.0.0.1:0", target])
      expect((yield* relayOne(verifying.port)).mail).toBe("451 4.4.1")
      yield* upstream.settled
      expect(yield* upstream.deliveries).toHaveLength(1)
    }).pipe(Effect.scoped)
  )

  it.effect("from a CA given with --upstream-ca: delivered at verify", () =>
    Effect.gen(function* () {
      const certs = yield* TestTls.Certificates
      const upstream = yield* ourServer({
        startTls: true,
        requireTls: true,
        tls: { certFile: certs.localhost.certFile, keyFile: certs.localhost.keyFile }
      })
      const verifying = yield* relay([
        "--upstream-tls",
        "verify",
        "--upstream-ca",
        certs.ca.certFile,
        "127.0.0.1:0",
        `localhost:${upstream.port}`
      ])
      expect((yield* relayOne(verifying.port)).data).toBe("250 2.0.0")
    }).pipe(Effect.scoped)
  )
})
