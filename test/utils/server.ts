// A real server on a free loopback port, recording what it accepts.
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect"
import type { Endpoint } from "../../src/handler/SessionInfo.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import type { ConfigError } from "../../src/server/ServerConfig.js"
import { type ListenError, SmtpServer } from "../../src/server/SmtpServer.js"
import { type ProcessError, type ProcessResult, python } from "./process.js"

export const layer = (options: NodeSmtpServer.Options = {}) =>
  NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "mx.test", ...options }).pipe(
    Layer.provideMerge(Recording.layer)
  )

export const port = Effect.map(SmtpServer, (server) => server.addresses[0]!.port)

/** The deliveries for one recipient (each test uses its own). */
export const deliveriesTo = (recipient: string) =>
  Effect.map(Recording.deliveries, (all) => all.filter((d) => d.rcptTos.includes(recipient)))

/** The bytes as a string where each byte is one character: exact, and readable in a failed diff. */
export const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

/** Bare CR and bare LF become CRLF, as the server's default `bareLineEndings: "normalize"` does. */
export const crlf = (input: string): string => input.replace(/\r\n|\r|\n/g, "\r\n")

/** Runs a Python script that starts with `s`, an smtplib client connected to the server. */
export const smtplib = (script: string): Effect.Effect<ProcessResult, ProcessError, SmtpServer> =>
  Effect.flatMap(port, (p) => python(`import smtplib\ns = smtplib.SMTP("127.0.0.1", ${p})\n${script.trim()}\n`))

export interface TestServer {
  /** The first bound address and its real port. */
  readonly host: string
  readonly port: number
  readonly addresses: ReadonlyArray<Endpoint>
  /** The implicit-TLS listeners (`tlsListen`), if any. */
  readonly tlsAddresses: ReadonlyArray<Endpoint>
  /** Accepted messages so far, in order. A client's 250 after DATA means its delivery is here. */
  readonly deliveries: Effect.Effect<ReadonlyArray<Recording.Delivery>>
  readonly activeSessions: Effect.Effect<number>
}

/**
 * Starts a server with the `Recording` handler in the current scope, on `127.0.0.1:0` unless
 * `listen` says otherwise, named `mx.test`. A short shutdown grace keeps a failing test
 * with a stuck client from hanging for the default 30 seconds.
 */
export const withServer = (
  options: NodeSmtpServer.Options = {}
): Effect.Effect<TestServer, ConfigError | ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(layer({ shutdownGrace: "1 second", ...options }))
    const server = Context.get(context, SmtpServer)
    const recording = Context.get(context, Recording.Recording)
    const first = server.addresses[0]!
    return {
      host: first.address,
      port: first.port,
      addresses: server.addresses,
      tlsAddresses: server.tlsAddresses,
      deliveries: recording.deliveries,
      activeSessions: server.activeSessions
    }
  })

/**
 * A Python prelude for smtplib scripts: `message` (stdin's bytes), `connect()` to SMTP_HOST and
 * SMTP_PORT from the environment, `r(reply)` as [code, text], and `report(value)` as a JSON line.
 */
export const smtplibPrelude = `import json, os, smtplib, sys
message = sys.stdin.buffer.read()
def connect():
    return smtplib.SMTP(os.environ["SMTP_HOST"], int(os.environ["SMTP_PORT"]), timeout=15)
def r(reply):
    return [reply[0], reply[1].decode("utf-8", "replace")]
def report(value):
    print(json.dumps(value))
`
