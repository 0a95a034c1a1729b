/**
 * Conversations with the server in memory: `SmtpTest.server(options)` runs the same sessions
 * as the Node server, with the `MessageHandler` from context, and `connect` gives a client.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { MessageHandler } from "../handler/MessageHandler.js"
import * as ServerConfig from "../server/ServerConfig.js"
import * as Sessions from "../internal/Sessions.js"
import * as TestTransport from "./TestTransport.js"

/**
 * An in-memory server.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestServer {
  /** Opens a connection; the server greets it at once. */
  readonly connect: Effect.Effect<TestTransport.TestClient>
  /** Opens a connection from a given address, or one encrypted from the start (implicit TLS). */
  readonly connectWith: (options: {
    readonly remote?: { readonly address: string; readonly port: number }
    readonly secure?: boolean
  }) => Effect.Effect<TestTransport.TestClient>
  /** Sessions running now. */
  readonly active: Effect.Effect<number>
}

/**
 * Starts an in-memory server in the current scope; closing the scope shuts it down. Sessions
 * still running then are ended at once (`shutdownGrace` is 0 unless given), so a test that
 * stops in the middle of a message does not wait for a grace period, real or on TestClock.
 * Clients connect from `TestTransport.defaultRemote` (127.0.0.1) unless `connectWith` says
 * otherwise.
 *
 * @since 0.1.0
 * @category constructors
 */
export const server = (
  options: ServerConfig.Options = {}
): Effect.Effect<TestServer, ServerConfig.ConfigError, MessageHandler | Scope.Scope> =>
  Effect.gen(function* () {
    // a test's scope closes at once, even with a message in progress (on TestClock a grace
    // period would wait for a clock nobody moves): give `shutdownGrace` to test shutdown
    const config = yield* ServerConfig.make({ hostname: "test.invalid", shutdownGrace: 0, ...options })
    const sessions = yield* Sessions.make(config, yield* MessageHandler)
    // with `startTls: true` the handshake is simulated: the session becomes secure
    const connectWith = (connection: Parameters<TestServer["connectWith"]>[0]) =>
      Effect.gen(function* () {
        const { client, transport } = yield* TestTransport.make({ ...connection, startTls: config.protocol.startTls })
        yield* Effect.forkDetach(sessions.serve(transport))
        return client
      })
    return {
      connect: connectWith({}),
      connectWith,
      active: sessions.active
    }
  })

/**
 * Sends one command line (CRLF added) and returns its reply.
 *
 * @since 0.1.0
 * @category combinators
 */
export const command = (client: TestTransport.TestClient, line: string) =>
  Effect.andThen(client.send(`${line}\r\n`), client.reply)
