/**
 * The server's options (smtpd's constructor arguments and more), their defaults, and the
 * checks that turn a contradictory configuration into a typed error at start-up.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { SessionInfo } from "../handler/SessionInfo.js"
import type * as Framer from "../protocol/Framer.js"
import * as Protocol from "../protocol/Protocol.js"
import type * as Reply from "../protocol/Reply.js"
import { AuthRateLimit, type Link } from "./AuthRateLimit.js"
import * as Networks from "./Networks.js"
import type * as SmtpError from "../protocol/SmtpError.js"

/**
 * A command of your own (smtpd's `smtp_<VERB>` methods): it gets the text after the verb and
 * answers with a reply. User commands are looked up before the built-in ones, so they can
 * also override them.
 *
 * @since 0.1.0
 * @category models
 */
export type UserCommand = (session: SessionInfo, argument: string) => Effect.Effect<Reply.Reply, SmtpError.SmtpError>

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Name in the greeting and EHLO reply (default: the machine's host name). */
  readonly hostname?: string | undefined
  /** Largest message in octets, 0 = no limit (default 33554432, smtpd's). */
  readonly maxMessageSize?: number | undefined
  /** Recipients per transaction (default 1000). */
  readonly maxRecipients?: number | undefined
  /** Protocol errors before 421 4.7.0 and close (default 20, Postfix's hard error limit). */
  readonly maxErrors?: number | undefined
  /** Errors after which each error reply is delayed by `errorDelay` (default 10, Postfix's soft limit). */
  readonly slowErrorsAfter?: number | undefined
  /** The delay of error replies past `slowErrorsAfter` (default 1 second). */
  readonly errorDelay?: Duration.Input | undefined
  /** NOOP, RSET, VRFY, EXPN, HELP before each counts as an error (default 100). */
  readonly maxJunkCommands?: number | undefined
  /**
   * Refuse MAIL and RCPT paths over RFC 5321's lengths: a local part over 64 octets, a domain
   * over 255, a path over 256 (501 5.1.7 / 501 5.1.3). Default true; false for legacy senders.
   */
  readonly addressLimits?: boolean | undefined
  /** Offer STARTTLS: set by the platform when it has a certificate. */
  readonly startTls?: boolean | undefined
  /** Before TLS only EHLO, HELO, NOOP, STARTTLS, QUIT and RSET; others get 530 5.7.0 (default false). */
  readonly requireTls?: boolean | undefined
  /** Offer and accept AUTH without TLS (default false: 538 5.7.11 before TLS). */
  readonly authInsecure?: boolean | undefined
  /** MAIL only after AUTH: 530 5.7.0 otherwise (default false). */
  readonly requireAuth?: boolean | undefined
  /** Failed AUTH attempts before 421 4.7.0 and close (default 3). */
  readonly maxAuthFailures?: number | undefined
  /** How long a failed AUTH waits before its 535 (default 1 second). */
  readonly authFailureDelay?: Duration.Input | undefined
  /** Slowest DATA allowed, in bytes per second after `dataRateGrace` (default 500, Postfix's smtpd_min_data_rate; 0 = no minimum). */
  readonly minDataRate?: number | undefined
  /** How long DATA may go before `minDataRate` applies (default 30 seconds). */
  readonly dataRateGrace?: Duration.Input | undefined
  /**
   * Close with 554 5.5.0 a client that talks before the greeting, or pipelines commands
   * without an EHLO that offered PIPELINING or after a command that must end a group
   * (RFC 2920 §3.1), like Postfix's `smtpd_forbid_unauth_pipelining` (default true).
   */
  readonly forbidUnauthPipelining?: boolean | undefined
  /** Simultaneous connections from one client (IPv4 address, IPv6 /64); more get 421 4.3.2 (default 50; 0 = no limit). */
  readonly maxConnectionsPerClient?: number | undefined
  /** Clients exempt from per-client limits, in CIDR notation (default loopback; [] trusts no one). */
  readonly trustedNetworks?: ReadonlyArray<string> | undefined
  /**
   * Failed AUTH attempts a client (IPv4 address, IPv6 /64) may make across its connections within
   * `window` (default 10 in 60 seconds); past them AUTH gets 454 4.7.0, the password unchecked,
   * until the oldest leaves the window (Postfix's smtpd_client_auth_rate_limit). Trusted networks
   * are exempt. `attempts: 0`: no limit.
   */
  readonly authRateLimit?:
    | {
        readonly attempts: number
        readonly window: Duration.Input
        /** Shares the count with other processes (the workers of `--workers`). */
        readonly link?: Link | undefined
      }
    | undefined
  /** Peers whose connections start with a PROXY protocol header (v1 or v2), in CIDR notation (default none). */
  readonly proxyProtocolFrom?: ReadonlyArray<string> | undefined
  /** How long to wait for a PROXY header (default 5 seconds). */
  readonly proxyTimeout?: Duration.Input | undefined
  /** Longest command line, including CRLF (default 2048). */
  readonly maxLineLength?: number | undefined
  /**
   * Speak LMTP (RFC 2033) instead of SMTP: LHLO instead of HELO/EHLO, and after the end of
   * the data one reply per accepted recipient (default false).
   */
  readonly lmtp?: boolean | undefined
  /** Offer CHUNKING (BDAT, RFC 3030) and BINARYMIME (default true). */
  readonly chunking?: boolean | undefined
  /** Offer DSN (RFC 3461): MAIL's RET and ENVID, RCPT's NOTIFY and ORCPT (default true). */
  readonly dsn?: boolean | undefined
  /** Offer SMTPUTF8 (smtpd's `enable_SMTPUTF8`). */
  readonly smtpUtf8?: boolean | undefined
  /** Handlers work with text (smtpd's `decode_data`): 8BITMIME is not offered. */
  readonly decodeData?: boolean | undefined
  /** Bare CR / LF in DATA (default `normalize`). */
  readonly bareLineEndings?: Framer.BareLineEndings | undefined
  /** Time a client may stay silent (default 300 seconds, RFC 5321 §4.5.3.2.7). */
  readonly idleTimeout?: Duration.Input | undefined
  /**
   * Longest a command line, a SASL answer or a STARTTLS handshake may take from its first byte,
   * however the bytes trickle in; past it 421 4.4.2 and close (default 60 seconds; Postfix
   * 3.7+'s `smtpd_per_request_deadline`).
   */
  readonly commandDeadline?: Duration.Input | undefined
  /** On shutdown, how long a message in progress may take to finish (default 30 seconds). */
  readonly shutdownGrace?: Duration.Input | undefined
  /** Simultaneous connections; more get 421 4.3.2 (default 10000; 0 = no limit). */
  readonly maxConnections?: number | undefined
  /** Commands of your own, by upper-case verb. */
  readonly commands?: Readonly<Record<string, UserCommand>> | undefined
  /** Log every command line and reply at Debug level (the command line's `--debug`). */
  readonly trace?: boolean | undefined
  /**
   * Tracing spans on the tracer in the server's context (an OTLP exporter's, say): one per
   * session, per transaction and per call of a handler's hook, the relay's upstream calls under
   * them. Off by default: then no span is made at all.
   */
  readonly tracing?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerConfig {
  readonly protocol: Protocol.Config
  readonly maxLineLength: number
  readonly decodeData: boolean
  readonly bareLineEndings: Framer.BareLineEndings
  readonly idleTimeout: Duration.Duration
  readonly commandDeadline: Duration.Duration
  readonly shutdownGrace: Duration.Duration
  readonly maxConnections: number
  readonly commands: Readonly<Record<string, UserCommand>>
  readonly trace: boolean
  readonly tracing: boolean
  readonly errorDelay: Duration.Duration
  readonly maxAuthFailures: number
  readonly authFailureDelay: Duration.Duration
  readonly minDataRate: number
  readonly dataRateGrace: Duration.Duration
  readonly forbidUnauthPipelining: boolean
  readonly maxConnectionsPerClient: number
  readonly trustedNetworks: ReadonlyArray<Networks.Network>
  readonly proxyProtocolFrom: ReadonlyArray<Networks.Network>
  readonly proxyTimeout: Duration.Duration
  /** The server's count of failed AUTH attempts per client (one per config: per server). */
  readonly authRateLimit: AuthRateLimit
}

/**
 * Options that do not fit together or a value out of range: a start-up error, no reply.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", { message: Schema.String }) {}

const nonNegative = (name: string, value: number | undefined) =>
  value === undefined || (Number.isInteger(value) && value >= 0)
    ? Effect.void
    : Effect.fail(new ConfigError({ message: `${name} must be a whole number ≥ 0, got ${value}` }))

/**
 * Applies defaults and checks the options.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<ServerConfig, ConfigError> =>
  Effect.gen(function* () {
    // smtpd raised the same error: decoded text cannot carry SMTPUTF8's 8-bit content faithfully
    if (options.decodeData === true && options.smtpUtf8 === true) {
      return yield* new ConfigError({ message: "decodeData and smtpUtf8 cannot be used together" })
    }
    yield* nonNegative("maxMessageSize", options.maxMessageSize)
    yield* nonNegative("maxConnections", options.maxConnections)
    yield* nonNegative("maxConnectionsPerClient", options.maxConnectionsPerClient)
    yield* nonNegative("minDataRate", options.minDataRate)
    yield* nonNegative("slowErrorsAfter", options.slowErrorsAfter)
    yield* nonNegative("maxJunkCommands", options.maxJunkCommands)
    for (const [name, value] of [
      ["maxRecipients", options.maxRecipients],
      ["maxErrors", options.maxErrors],
      ["maxAuthFailures", options.maxAuthFailures]
    ] as const) {
      if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
        return yield* new ConfigError({ message: `${name} must be a whole number ≥ 1, got ${value}` })
      }
    }
    if (
      options.maxLineLength !== undefined &&
      !(Number.isInteger(options.maxLineLength) && options.maxLineLength >= 512)
    ) {
      return yield* new ConfigError({ message: "maxLineLength must be at least 512 (RFC 5321 §4.5.3.1.4)" })
    }
    const commands: Record<string, UserCommand> = {}
    for (const [verb, command] of Object.entries(options.commands ?? {})) {
      if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(verb)) {
        return yield* new ConfigError({ message: `command verb ${JSON.stringify(verb)} is not a word` })
      }
      commands[verb.toUpperCase()] = command
    }
    const commandDeadline = Duration.fromInputUnsafe(options.commandDeadline ?? "60 seconds")
    if (!Duration.isGreaterThan(commandDeadline, Duration.zero)) {
      return yield* new ConfigError({ message: "commandDeadline must be longer than 0" })
    }
    const decodeData = options.decodeData ?? false
    const networks = (name: string, list: ReadonlyArray<string> | undefined, fallback: ReadonlyArray<string>) =>
      Effect.fromResult(
        Result.mapError(
          Networks.parseAll(list ?? fallback),
          (message) => new ConfigError({ message: `${name}: ${message}` })
        )
      )
    const trustedNetworks = yield* networks("trustedNetworks", options.trustedNetworks, Networks.loopback)
    const proxyProtocolFrom = yield* networks("proxyProtocolFrom", options.proxyProtocolFrom, [])
    return {
      // the protocol's limits have their defaults in one place, Protocol.makeConfig
      protocol: Protocol.makeConfig({
        hostname: options.hostname,
        maxMessageSize: options.maxMessageSize,
        maxRecipients: options.maxRecipients,
        maxErrors: options.maxErrors,
        smtpUtf8: options.smtpUtf8,
        eightBitMime: !decodeData,
        userVerbs: new Set(Object.keys(commands)),
        startTls: options.startTls,
        requireTls: options.requireTls,
        authInsecure: options.authInsecure,
        requireAuth: options.requireAuth,
        slowErrorsAfter: options.slowErrorsAfter,
        maxJunkCommands: options.maxJunkCommands,
        addressLimits: options.addressLimits,
        lmtp: options.lmtp,
        // BINARYMIME content is 8-bit: not for handlers that work with text
        chunking: options.chunking ?? !decodeData,
        dsn: options.dsn
      }),
      maxLineLength: options.maxLineLength ?? 2048,
      decodeData,
      bareLineEndings: options.bareLineEndings ?? "normalize",
      idleTimeout: Duration.fromInputUnsafe(options.idleTimeout ?? "300 seconds"),
      commandDeadline,
      shutdownGrace: Duration.fromInputUnsafe(options.shutdownGrace ?? "30 seconds"),
      maxConnections: options.maxConnections ?? 10000,
      commands,
      trace: options.trace ?? false,
      tracing: options.tracing ?? false,
      errorDelay: Duration.fromInputUnsafe(options.errorDelay ?? "1 second"),
      maxAuthFailures: options.maxAuthFailures ?? 3,
      authFailureDelay: Duration.fromInputUnsafe(options.authFailureDelay ?? "1 second"),
      minDataRate: options.minDataRate ?? 500,
      dataRateGrace: Duration.fromInputUnsafe(options.dataRateGrace ?? "30 seconds"),
      forbidUnauthPipelining: options.forbidUnauthPipelining ?? true,
      maxConnectionsPerClient: options.maxConnectionsPerClient ?? 50,
      trustedNetworks,
      proxyProtocolFrom,
      proxyTimeout: Duration.fromInputUnsafe(options.proxyTimeout ?? "5 seconds"),
      authRateLimit: authRateLimit(options, trustedNetworks)
    }
  })

// one count per server, linked to the other processes' when there are any
const authRateLimit = (options: Options, trusted: ReadonlyArray<Networks.Network>): AuthRateLimit => {
  const link = options.authRateLimit?.link
  const limit = new AuthRateLimit({
    attempts: options.authRateLimit?.attempts ?? 10,
    windowMs: Duration.toMillis(Duration.fromInputUnsafe(options.authRateLimit?.window ?? "60 seconds")),
    trusted,
    onFailure: link?.report
  })
  link?.subscribe((key, until) => limit.block(key, until))
  return limit
}

/**
 * Does a connection from `address` start with a PROXY header (is it one of `proxyProtocolFrom`)?
 *
 * @since 0.1.0
 * @category predicates
 */
export const fromProxy = (config: ServerConfig, address: string): boolean =>
  config.proxyProtocolFrom.length > 0 && Networks.contains(config.proxyProtocolFrom, address)
