/**
 * The server command's flags and arguments: Python's `python -m smtpd` with the same flags, plus
 * `--maildir`, `--format`, repeatable `--listen` (TCP or Unix sockets), `--stdio`, `--lmtp`, the
 * ESMTP extensions' and trace fields' switches, the mail queue's (`--relay-mode queue`,
 * `--queue`, the retry schedule), and the trust flags.
 *
 * @since 0.1.0
 */
import { Argument, type Command, Flag } from "effect/cli"
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Option from "effect/Option"
import * as Listening from "../node/Listening.js"
import * as Networks from "../server/Networks.js"
import { parseAddress } from "../server/SmtpServer.js"
import * as TrustFlags from "./TrustFlags.js"
import * as UpstreamAddress from "./UpstreamAddress.js"
import { env, fallback } from "./Environment.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

/**
 * The handler classes the command can run.
 *
 * @since 0.1.0
 * @category constants
 */
export const classes = ["DebuggingServer", "Sink", "Maildir", "PureProxy", "Router", "Inbox"] as const

/**
 * A wrong flag or value: the message is printed, the exit status is 2.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const address = (name: string, description: string, unix: boolean) =>
  Argument.String(name).pipe(
    Argument.withDescription(description),
    Argument.filter(
      (text) => parseAddress(text) !== undefined || (unix && Listening.parseUnix(text) !== undefined),
      () => (unix ? "host:port or unix:/path" : "host:port")
    ),
    Argument.optional
  )

/**
 * Where the queue is unless `--queue` says otherwise: a SQLite file in the working directory.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultQueue = "effect-smtpd-queue.db"

/**
 * What an old `spool` setting is told: the mode is gone, queue replaces it.
 *
 * @since 0.2.0
 * @category constants
 */
export const spoolGone = (what: string, instead: string) =>
  `${what} is gone: use ${instead} (the message is stored in the queue, then delivered from there)`

const relayModeExpected = (mode: string) => `--relay-mode must be forward or queue, got ${mode}`

/** The default of --max-hops: Postfix's hopcount_limit. */
export const defaultMaxHops = 50

/**
 * The flags and arguments of the server command (with TrustFlags.options).
 *
 * @since 0.1.0
 * @category constants
 */
export const options = {
  nosetuid: Flag.Boolean("nosetuid").pipe(
    fallback(Config.Boolean(env("nosetuid"))),
    Flag.withDefault(false),
    Flag.withAlias("n"),
    Flag.withDescription("Accepted for smtpd compatibility; the server never switches user.")
  ),
  handlerClass: Flag.Literals("class", classes).pipe(
    fallback(Config.Literals(classes, env("class"))),
    Flag.withAlias("c"),
    Flag.withDefault("DebuggingServer" as const),
    Flag.withDescription(
      "What to do with mail: print it (DebuggingServer), drop it (Sink), store it (Maildir), relay it to remoteaddr (PureProxy), route it by recipient (Router, with --routes), or keep it for the web inbox and Mailpit's API on --web (Inbox). Default DebuggingServer."
    )
  ),
  size: Flag.Int("size").pipe(
    fallback(Config.Int(env("size"))),
    Flag.withAlias("s"),
    Flag.withDefault(33554432),
    Flag.withDescription("Largest message accepted, in bytes; 0 means no limit (default 33554432).")
  ),
  smtputf8: Flag.Boolean("smtputf8").pipe(
    fallback(Config.Boolean(env("smtputf8"))),
    Flag.withDefault(false),
    Flag.withAlias("u"),
    Flag.withDescription("Offer SMTPUTF8 (RFC 6531).")
  ),
  debug: Flag.Boolean("debug").pipe(
    fallback(Config.Boolean(env("debug"))),
    Flag.withDefault(false),
    Flag.withAlias("d"),
    Flag.withDescription("Trace the protocol (commands and replies) on stderr.")
  ),
  maildir: Flag.Directory("maildir").pipe(
    fallback(Config.String(env("maildir"))),
    Flag.optional,
    Flag.withDescription("The Maildir for --class Maildir.")
  ),
  bareLf: Flag.Literals("bare-lf", ["normalize", "reject", "pass"]).pipe(
    fallback(Config.Literals(["normalize", "reject", "pass"], env("bare-lf"))),
    Flag.withDefault("normalize" as const),
    Flag.withDescription(
      "A lone LF or CR in DATA or in a command: normalize (the default: CRLF in DATA, a command's end), reject (550 5.6.11 for the message, 500 5.5.2 for the command, nothing of it run), or pass (kept in DATA)."
    )
  ),
  format: Flag.Literals("format", ["text", "json"]).pipe(
    fallback(Config.Literals(["text", "json"], env("format"))),
    Flag.withDefault("text" as const),
    Flag.withDescription("DebuggingServer output: smtpd's text (the default), or one JSON line per message.")
  ),
  routes: Flag.File("routes", { mustExist: true }).pipe(
    fallback(Config.String(env("routes"))),
    Flag.optional,
    Flag.withDescription("The routes for --class Router: a JSON file (see the README).")
  ),
  relayNetworks: Flag.String("relay-networks").pipe(
    fallback(Config.String(env("relay-networks"))),
    Flag.withDefault(Networks.loopback.join(",")),
    Flag.withDescription("Clients allowed to relay, comma-separated CIDR networks (default loopback only).")
  ),
  relayMode: Flag.String("relay-mode").pipe(
    fallback(Config.String(env("relay-mode"))),
    Flag.filterMap(
      (mode) => (mode === "forward" || mode === "queue" ? Option.some<"forward" | "queue">(mode) : Option.none()),
      (mode) => (mode === "spool" ? spoolGone("--relay-mode spool", "--relay-mode queue") : relayModeExpected(mode))
    ),
    Flag.withDefault("forward" as const),
    Flag.withDescription(
      "forward (the default): each RCPT gets the upstream's verdict live; queue: the message is stored in the --queue and delivered from there, with retries and bounces."
    )
  ),
  queue: Flag.String("queue").pipe(
    fallback(Config.String(env("queue"))),
    Flag.withDefault(defaultQueue),
    Flag.withDescription(
      `The mail queue of --relay-mode queue: a SQLite file, or a postgres:// URL that many receivers share (default ${defaultQueue} in the working directory; opened only when something is in queue mode).`
    )
  ),
  inbox: Flag.String("inbox").pipe(
    fallback(Config.String(env("inbox"))),
    Flag.optional,
    Flag.withDescription("The SQLite file --class Inbox keeps messages in (default: in memory, gone at exit).")
  ),
  inboxMax: Flag.Int("inbox-max").pipe(
    fallback(Config.Int(env("inbox-max"))),
    Flag.withDefault(500),
    Flag.withDescription("The most messages --class Inbox keeps; the oldest go first (default 500).")
  ),
  web: Flag.String("web").pipe(
    fallback(Config.String(env("web"))),
    Flag.withDefault("localhost:8026"),
    Flag.withDescription(
      "Where --class Inbox serves the web inbox and Mailpit's API v1: host:port (default localhost:8026)."
    )
  ),
  releaseTo: Flag.String("release-to").pipe(
    fallback(Config.String(env("release-to"))),
    Flag.optional,
    Flag.withDescription(
      "host:port of the SMTP server --class Inbox releases messages through (POST /api/v1/message/ID/release; its TLS and login as --upstream-tls, --upstream-user)."
    )
  ),
  releaseAllowed: Flag.String("release-allowed").pipe(
    fallback(Config.String(env("release-allowed"))),
    Flag.optional,
    Flag.withDescription("A regular expression a recipient must match to be released to (default: any).")
  ),
  releaseReturnPath: Flag.String("release-return-path").pipe(
    fallback(Config.String(env("release-return-path"))),
    Flag.optional,
    Flag.withDescription("The envelope sender of released messages (default: the one each came with).")
  ),
  enableSpamassassin: Flag.String("enable-spamassassin").pipe(
    fallback(Config.String(env("enable-spamassassin"))),
    Flag.optional,
    Flag.withDescription(
      "host:port of a SpamAssassin daemon (spamd) that --class Inbox asks to score a message (GET /api/v1/message/ID/sa-check), as Mailpit's flag."
    )
  ),
  enableChaos: Flag.Boolean("enable-chaos").pipe(
    fallback(Config.Boolean(env("enable-chaos"))),
    Flag.withDefault(false),
    Flag.withDescription(
      "Let --class Inbox's chaos triggers be set through its API (PUT /api/v1/chaos), as Mailpit's --enable-chaos."
    )
  ),
  retryMin: Flag.Int("retry-min").pipe(
    fallback(Config.Int(env("retry-min"))),
    Flag.withDefault(300),
    Flag.withDescription(
      "Seconds before a deferred message is first tried again; the wait doubles after each try (default 300)."
    )
  ),
  retryMax: Flag.Int("retry-max").pipe(
    fallback(Config.Int(env("retry-max"))),
    Flag.withDefault(4000),
    Flag.withDescription("The longest wait between two tries of a deferred message, in seconds (default 4000).")
  ),
  queueLifetime: Flag.Int("queue-lifetime").pipe(
    fallback(Config.Int(env("queue-lifetime"))),
    Flag.withDefault(432000),
    Flag.withDescription(
      "Seconds after which a message still not delivered is given up and bounced to its sender (default 432000: 5 days)."
    )
  ),
  delayWarning: Flag.Int("delay-warning").pipe(
    fallback(Config.Int(env("delay-warning"))),
    Flag.optional,
    Flag.withDescription("Warn the sender of a message still waiting after this many seconds (default: never).")
  ),
  upstreamTls: Flag.Literals("upstream-tls", [
    "none",
    "may",
    "encrypt",
    "verify",
    "secure",
    "off",
    "opportunistic",
    "required",
    "implicit"
  ]).pipe(
    Flag.withFallbackConfig(
      Config.Literals(
        ["none", "may", "encrypt", "verify", "secure", "off", "opportunistic", "required", "implicit"],
        env("upstream-tls")
      )
    ),
    Flag.withDefault("may" as const),
    Flag.withDescription(
      "TLS to the upstream, Postfix's levels: none; may (the default: STARTTLS when offered, certificate not checked, plain text if the handshake fails); encrypt (TLS or no delivery); verify and secure (TLS with the certificate checked, --upstream-ca). Older names: off = none, opportunistic = may, required = verify, implicit = --upstream-implicit-tls with verify."
    )
  ),
  upstreamImplicitTls: Flag.Boolean("upstream-implicit-tls").pipe(
    fallback(Config.Boolean(env("upstream-implicit-tls"))),
    Flag.withDefault(false),
    Flag.withDescription(
      "TLS from the first byte (port 465, RFC 8314) instead of STARTTLS; the certificate checked as --upstream-tls says."
    )
  ),
  upstreamCa: Flag.File("upstream-ca", { mustExist: true }).pipe(
    fallback(Config.String(env("upstream-ca"))),
    Flag.optional,
    Flag.withDescription("CA certificates (PEM) to verify the upstream with, instead of the system's.")
  ),
  upstreamUser: Flag.String("upstream-user").pipe(
    fallback(Config.String(env("upstream-user"))),
    Flag.optional,
    Flag.withDescription("AUTH to the upstream as this user (over TLS only).")
  ),
  upstreamPassword: Flag.Redacted("upstream-password").pipe(
    Flag.withFallbackConfig(Config.Redacted("EFFECT_SMTPD_UPSTREAM_PASSWORD")),
    Flag.optional,
    Flag.withDescription("The upstream password; better given in EFFECT_SMTPD_UPSTREAM_PASSWORD.")
  ),
  workers: Flag.String("workers").pipe(
    fallback(Config.String(env("workers"))),
    Flag.withDefault("1"),
    Flag.withDescription("Worker processes sharing the listeners (node:cluster); auto = one per core (default 1).")
  ),
  otlp: Flag.String("otlp").pipe(
    fallback(Config.String(env("otlp"))),
    Flag.optional,
    Flag.withDescription(
      "Send tracing spans (a session, its transactions, the handler's calls, a relay's upstream commands) over OTLP/HTTP to this base URL (http://collector:4318); the standard OTEL_EXPORTER_OTLP_ENDPOINT does the same (default: no tracing, no span made)."
    )
  ),
  metrics: Flag.String("metrics").pipe(
    fallback(Config.String(env("metrics"))),
    Flag.optional,
    Flag.withDescription(
      "Serve GET /metrics (Prometheus text format) on host:port; with --workers, the sum of the workers' metrics."
    )
  ),
  commandDeadline: Flag.Int("command-deadline").pipe(
    fallback(Config.Int(env("command-deadline"))),
    Flag.optional,
    Flag.withDescription(
      "Seconds a command line, an AUTH answer or a STARTTLS handshake may take from its first byte, however slowly it comes (default 60; Postfix's smtpd_per_request_deadline)."
    )
  ),
  stdio: Flag.Boolean("stdio").pipe(
    fallback(Config.Boolean(env("stdio"))),
    Flag.withDefault(false),
    Flag.withDescription(
      "Hold one SMTP session on standard input and output, then exit (inetd, systemd sockets with Accept=yes, sendmail -bs); logs go to stderr. Not with --class DebuggingServer."
    )
  ),
  lmtp: Flag.Boolean("lmtp").pipe(
    fallback(Config.Boolean(env("lmtp"))),
    Flag.withDefault(false),
    Flag.withDescription(
      "Speak LMTP (RFC 2033) instead of SMTP: LHLO, and one reply per recipient after the data (default off; the port stays 8025)."
    )
  ),
  chunking: Flag.Boolean("chunking").pipe(
    fallback(Config.Boolean(env("chunking"))),
    Flag.withDefault(true),
    Flag.withDescription("Offer CHUNKING (BDAT, RFC 3030) and BINARYMIME (default on; --no-chunking turns it off).")
  ),
  dsn: Flag.Boolean("dsn").pipe(
    fallback(Config.Boolean(env("dsn"))),
    Flag.withDefault(true),
    Flag.withDescription("Offer DSN (RFC 3461): RET, ENVID, NOTIFY, ORCPT (default on; --no-dsn turns it off).")
  ),
  received: Flag.Boolean("received").pipe(
    fallback(Config.Boolean(env("received"))),
    Flag.withDefault(true),
    Flag.withDescription(
      "Maildir, PureProxy and Router add a Received: trace field (RFC 5321 §4.4) (default on; --no-received turns it off)."
    )
  ),
  maxHops: Flag.Int("max-hops").pipe(
    fallback(Config.Int(env("max-hops"))),
    Flag.withDefault(defaultMaxHops),
    Flag.withDescription(
      `PureProxy and Router refuse with 554 5.4.6 a message with more Received: fields than this: a mail loop (default ${defaultMaxHops}).`
    )
  ),
  listen: Flag.String("listen").pipe(
    Flag.atLeast(0),
    Flag.withDescription(
      "An address to listen on (host:port, [ipv6]:port, or a Unix socket: unix:/path, mode 0660 unless unix:/path?mode=0600 says otherwise); repeatable. Overrides localaddr."
    )
  ),
  localaddr: address(
    "localaddr",
    "host:port (or unix:/path) to listen on (default localhost:8025: 127.0.0.1 and ::1).",
    true
  ),
  remoteaddr: Argument.String("remoteaddr").pipe(
    Argument.withDescription(
      "Where --class PureProxy relays to: host:port or unix:/path, after lmtp: for an LMTP upstream (default localhost:25)."
    ),
    Argument.filter(
      (text) => UpstreamAddress.parse(text) !== undefined,
      () => UpstreamAddress.expected
    ),
    Argument.optional
  )
}

/**
 * The command line as parsed.
 *
 * @since 0.1.0
 * @category models
 */
export type Parsed = Command.Command.Config.Infer<typeof options & typeof TrustFlags.options>
