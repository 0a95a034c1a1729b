import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Effect, Exit, Layer } from "effect"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { connect } from "../utils/rawClient.js"

const server = (options: NodeSmtpServer.Options) =>
  NodeSmtpServer.layer(options).pipe(Layer.provideMerge(Recording.layer))

describe("NodeSmtpServer", () => {
  it.live("listens on IPv4 and IPv6 and reports the ports it got", () =>
    Effect.gen(function* () {
      const { addresses } = yield* SmtpServer
      expect(addresses.map((a) => a.address)).toEqual(["127.0.0.1", "::1"])
      const v6 = yield* connect("::1", addresses[1]!.port)
      expect(yield* v6.reply).toEqual(["220 test.example ESMTP effect-smtpd"])
      yield* v6.write("EHLO c\r\n")
      yield* v6.reply
      yield* v6.write("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
      for (let i = 0; i < 2; i++) yield* v6.reply
      expect((yield* v6.reply)[0]).toMatch(/^354 /)
      yield* v6.write("over IPv6\r\n.\r\nQUIT\r\n")
      expect((yield* v6.reply)[0]).toMatch(/^250 2\.0\.0/)
      expect((yield* v6.reply)[0]).toMatch(/^221 2\.0\.0/)
      yield* v6.closed
      const [delivery] = yield* Recording.deliveries
      expect(delivery?.peer.address).toBe("::1")
      expect(new TextDecoder().decode(delivery?.data)).toBe("over IPv6\r\n")
    }).pipe(Effect.provide(server({ listen: ["127.0.0.1:0", "[::1]:0"], hostname: "test.example" })))
  )

  it.live("binds localhost on both loopbacks with one port", () =>
    Effect.gen(function* () {
      const { addresses } = yield* SmtpServer
      expect(addresses.map((a) => a.address)).toEqual(["127.0.0.1", "::1"])
      expect(addresses[0]!.port).toBe(addresses[1]!.port)
    }).pipe(Effect.provide(server({ listen: "localhost:0" })))
  )

  it.live("closes a silent client after the idle timeout with 421 4.4.2", () =>
    Effect.gen(function* () {
      const { addresses } = yield* SmtpServer
      const client = yield* connect("127.0.0.1", addresses[0]!.port)
      yield* client.reply
      yield* client.write("EHLO c\r\n")
      yield* client.reply
      const started = Date.now()
      expect(yield* client.reply).toEqual(["421 4.4.2 Idle timeout, closing connection"])
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      yield* client.closed
    }).pipe(Effect.provide(server({ listen: "127.0.0.1:0", idleTimeout: "300 millis" })))
  )

  it.live("refuses connections over the limit with 421 4.3.2", () =>
    Effect.gen(function* () {
      const { addresses } = yield* SmtpServer
      const first = yield* connect("127.0.0.1", addresses[0]!.port)
      yield* first.reply
      const second = yield* connect("127.0.0.1", addresses[0]!.port)
      expect((yield* second.reply)[0]).toMatch(/^421 /)
      yield* second.closed
    }).pipe(Effect.provide(server({ listen: "127.0.0.1:0", maxConnections: 1 })))
  )

  it.live("fails with ListenError on an address in use, and with ConfigError on a bad option", () =>
    Effect.gen(function* () {
      const taken = yield* Effect.scoped(
        Effect.gen(function* () {
          const { addresses } = yield* SmtpServer
          const port = addresses[0]!.port
          return yield* Effect.exit(Layer.build(server({ listen: `127.0.0.1:${port}` })))
        }).pipe(Effect.provide(server({ listen: "127.0.0.1:0" })))
      )
      assert(Exit.isFailure(taken))
      expect(String(taken.cause)).toContain("ListenError")
      const bad = yield* Effect.exit(Effect.scoped(Layer.build(server({ listen: "127.0.0.1:0", maxRecipients: 0 }))))
      assert(Exit.isFailure(bad))
      expect(String(bad.cause)).toContain("ConfigError")
      const malformed = yield* Effect.exit(Effect.scoped(Layer.build(server({ listen: "nohost" }))))
      assert(Exit.isFailure(malformed))
    })
  )

  it.live("stops accepting when its scope closes", () =>
    Effect.gen(function* () {
      const port = yield* Effect.scoped(
        Effect.map(SmtpServer, (s) => s.addresses[0]!.port).pipe(Effect.provide(server({ listen: "127.0.0.1:0" })))
      )
      const refused = yield* Effect.exit(Effect.scoped(connect("127.0.0.1", port)))
      assert(Exit.isFailure(refused))
    })
  )
})

describe("NodeSmtpServer.layerConfig", () => {
  const options = {
    listen: Config.String("EFFECT_SMTPD_LISTEN"),
    hostname: Config.String("EFFECT_SMTPD_HOSTNAME").pipe(Config.withDefault("config.example")),
    maxMessageSize: Config.Int("EFFECT_SMTPD_SIZE")
  }
  const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

  it.live("reads its options through Config when the layer is built", () =>
    Effect.gen(function* () {
      const { addresses } = yield* SmtpServer
      const client = yield* connect("127.0.0.1", addresses[0]!.port)
      expect(yield* client.reply).toEqual(["220 config.example ESMTP effect-smtpd"])
      yield* client.write("EHLO c\r\n")
      expect(yield* client.reply).toContain("250-SIZE 4321")
    }).pipe(
      Effect.provide(
        NodeSmtpServer.layerConfig(options).pipe(
          Layer.provideMerge(Recording.layer),
          Layer.provide(withEnv({ EFFECT_SMTPD_LISTEN: "127.0.0.1:0", EFFECT_SMTPD_SIZE: "4321" }))
        )
      )
    )
  )

  it.live("fails to build with a ConfigError when a variable is missing or wrong", () =>
    Effect.gen(function* () {
      for (const env of [
        { EFFECT_SMTPD_LISTEN: "127.0.0.1:0" },
        { EFFECT_SMTPD_LISTEN: "127.0.0.1:0", EFFECT_SMTPD_SIZE: "big" }
      ]) {
        const exit = yield* Effect.exit(
          Effect.scoped(
            Layer.build(
              NodeSmtpServer.layerConfig(options).pipe(Layer.provide(Recording.layer), Layer.provide(withEnv(env)))
            )
          )
        )
        assert(Exit.isFailure(exit))
        expect(String(Cause.squash(exit.cause))).toContain("EFFECT_SMTPD_SIZE")
      }
    })
  )
})
