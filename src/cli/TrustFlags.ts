/**
 * The command's flags for facing the internet: TLS, AUTH, the PROXY protocol and limits. They
 * are checked together before anything listens: a bad combination or file is a usage error
 * at start, never a half-started server.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { type Command, Flag } from "effect/cli"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Authenticator from "../auth/Authenticator.js"
import type * as NodeSmtpServer from "../node/NodeSmtpServer.js"
import * as Networks from "../server/Networks.js"
import { parseAddress } from "../server/SmtpServer.js"
import { env, fallback } from "./Environment.js"

/**
 * @since 0.1.0
 * @category options
 */
export const options = {
  tlsCert: Flag.File("tls-cert", { mustExist: true }).pipe(
    fallback(Config.String(env("tls-cert"))),
    Flag.optional,
    Flag.withDescription("The server's certificate chain (PEM); with --tls-key, STARTTLS is offered.")
  ),
  tlsKey: Flag.File("tls-key", { mustExist: true }).pipe(
    fallback(Config.String(env("tls-key"))),
    Flag.optional,
    Flag.withDescription("The private key (PEM) of --tls-cert.")
  ),
  tlsListen: Flag.String("tls-listen").pipe(
    Flag.atLeast(0),
    Flag.withDescription("An address for implicit TLS (port 465 style); repeatable; needs --tls-cert.")
  ),
  requireTls: Flag.Boolean("require-tls").pipe(
    fallback(Config.Boolean(env("require-tls"))),
    Flag.withDefault(false),
    Flag.withDescription("Before STARTTLS only EHLO, HELO, NOOP, STARTTLS, RSET and QUIT (530 5.7.0).")
  ),
  authUsers: Flag.File("auth-users", { mustExist: true }).pipe(
    fallback(Config.String(env("auth-users"))),
    Flag.optional,
    Flag.withDescription(
      "Offer AUTH to these users: lines user:password or user:scrypt$… (effect-smtpd hash-password)."
    )
  ),
  authInsecure: Flag.Boolean("auth-insecure").pipe(
    fallback(Config.Boolean(env("auth-insecure"))),
    Flag.withDefault(false),
    Flag.withDescription("Allow AUTH before TLS.")
  ),
  requireAuth: Flag.Boolean("require-auth").pipe(
    fallback(Config.Boolean(env("require-auth"))),
    Flag.withDefault(false),
    Flag.withDescription("MAIL only after AUTH (530 5.7.0).")
  ),
  authRateLimit: Flag.String("auth-rate-limit").pipe(
    fallback(Config.String(env("auth-rate-limit"))),
    Flag.optional,
    Flag.withDescription(
      "Failed AUTH attempts a client (IPv4 address, IPv6 /64) may make across its connections, N/SECONDS (default 10/60; 0/1 = no limit); past them 454 4.7.0 until the window passes."
    )
  ),
  trustedNetworks: Flag.String("trusted-networks").pipe(
    fallback(Config.String(env("trusted-networks"))),
    Flag.optional,
    Flag.withDescription(
      "Clients exempt from the per-client limits (connections, AUTH failures), comma-separated CIDR networks (default loopback; an empty value trusts no one)."
    )
  ),
  proxyProtocolFrom: Flag.String("proxy-protocol-from").pipe(
    Flag.atLeast(0),
    Flag.withDescription("A proxy (CIDR) whose connections start with a PROXY protocol header; repeatable.")
  ),
  maxConnections: Flag.Int("max-connections").pipe(
    fallback(Config.Int(env("max-connections"))),
    Flag.optional,
    Flag.withDescription("Simultaneous connections (default 10000; 0 = no limit).")
  ),
  maxConnectionsPerClient: Flag.Int("max-connections-per-client").pipe(
    fallback(Config.Int(env("max-connections-per-client"))),
    Flag.optional,
    Flag.withDescription("Simultaneous connections per client address or IPv6 /64 (default 50; 0 = no limit).")
  ),
  maxRecipients: Flag.Int("max-recipients").pipe(
    fallback(Config.Int(env("max-recipients"))),
    Flag.optional,
    Flag.withDescription("Recipients per message (default 1000).")
  ),
  timeout: Flag.Int("timeout").pipe(
    fallback(Config.Int(env("timeout"))),
    Flag.optional,
    Flag.withDescription("Seconds a client may stay silent (default 300).")
  )
}

type Parsed = Command.Command.Config.Infer<typeof options>

/**
 * The server options and the Authenticator the flags describe, or what is wrong with them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (
  parsed: Parsed
): Effect.Effect<
  {
    readonly server: Partial<NodeSmtpServer.Options>
    readonly authenticator: Layer.Layer<Authenticator.Authenticator, Authenticator.AuthFileError> | undefined
  },
  string
> =>
  Effect.gen(function* () {
    const cert = Option.getOrUndefined(parsed.tlsCert)
    const key = Option.getOrUndefined(parsed.tlsKey)
    if ((cert === undefined) !== (key === undefined)) return yield* Effect.fail("--tls-cert and --tls-key go together")
    const tls = cert !== undefined && key !== undefined ? { certFile: cert, keyFile: key } : undefined
    if (tls === undefined && parsed.tlsListen.length > 0)
      return yield* Effect.fail("--tls-listen needs --tls-cert and --tls-key")
    if (tls === undefined && parsed.requireTls)
      return yield* Effect.fail("--require-tls needs --tls-cert and --tls-key")
    for (const address of parsed.tlsListen) {
      if (parseAddress(address) === undefined)
        return yield* Effect.fail(`--tls-listen: expected host:port, got ${address}`)
    }
    const users = Option.getOrUndefined(parsed.authUsers)
    if (parsed.requireAuth && users === undefined) return yield* Effect.fail("--require-auth needs --auth-users")
    if (users !== undefined && tls === undefined && !parsed.authInsecure) {
      return yield* Effect.fail(
        "--auth-users needs --tls-cert/--tls-key (AUTH is only offered over TLS), or --auth-insecure"
      )
    }
    for (const network of parsed.proxyProtocolFrom) {
      const checked = Networks.parse(network)
      if (Result.isFailure(checked)) return yield* Effect.fail(`--proxy-protocol-from: ${checked.failure}`)
    }
    const count = (name: string, value: Option.Option<number>, minimum: number) =>
      Option.match(value, {
        onNone: () => Effect.succeed(undefined),
        onSome: (n) =>
          n >= minimum ? Effect.succeed(n) : Effect.fail(`--${name} must be at least ${minimum}, got ${n}`)
      })
    const timeout = yield* count("timeout", parsed.timeout, 1)
    const rate = Option.getOrUndefined(parsed.authRateLimit)
    const rateMatch = rate === undefined ? undefined : /^(\d{1,6})\/(\d{1,6})$/.exec(rate)
    if (rate !== undefined && (rateMatch === null || rateMatch === undefined || Number(rateMatch[2]) < 1)) {
      return yield* Effect.fail(`--auth-rate-limit must be N/SECONDS (e.g. 10/60), got ${rate}`)
    }
    const trusted = Option.getOrUndefined(parsed.trustedNetworks)
    const trustedNetworks =
      trusted === undefined
        ? undefined
        : trusted
            .split(",")
            .map((n) => n.trim())
            .filter((n) => n !== "")
    for (const network of trustedNetworks ?? []) {
      const checked = Networks.parse(network)
      if (Result.isFailure(checked)) return yield* Effect.fail(`--trusted-networks: ${checked.failure}`)
    }
    return {
      server: {
        tls,
        tlsListen: parsed.tlsListen,
        requireTls: parsed.requireTls,
        authInsecure: parsed.authInsecure,
        requireAuth: parsed.requireAuth,
        proxyProtocolFrom: parsed.proxyProtocolFrom,
        maxConnections: yield* count("max-connections", parsed.maxConnections, 0),
        maxConnectionsPerClient: yield* count("max-connections-per-client", parsed.maxConnectionsPerClient, 0),
        maxRecipients: yield* count("max-recipients", parsed.maxRecipients, 1),
        idleTimeout: timeout === undefined ? undefined : `${timeout} seconds`,
        trustedNetworks,
        authRateLimit:
          rateMatch === undefined || rateMatch === null
            ? undefined
            : { attempts: Number(rateMatch[1]), window: `${Number(rateMatch[2])} seconds` as const }
      },
      authenticator: users === undefined ? undefined : Authenticator.layerFileNode(users)
    }
  })
