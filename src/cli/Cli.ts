/**
 * The `effect-smtpd` command: Python's `python -m smtpd` with the same flags, plus
 * `--maildir`, `--format` and repeatable `--listen`.
 *
 * @since 0.1.0
 */
import { Argument, CliOutput, Command, Flag } from "effect/cli"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as References from "effect/References"
import type * as SmtpClient from "../client/SmtpClient.js"
import type { MessageHandler } from "../handler/MessageHandler.js"
import { formatEndpoint } from "../handler/SessionInfo.js"
import * as Debugging from "../handlers/Debugging.js"
import * as Maildir from "../handlers/Maildir.js"
import * as Relay from "../handlers/Relay.js"
import * as Router from "../handlers/Router.js"
import * as Sink from "../handlers/Sink.js"
import * as Cluster from "../node/Cluster.js"
import * as MetricsEndpoint from "../node/MetricsEndpoint.js"
import * as Metrics from "../server/Metrics.js"
import * as MetricsText from "../server/MetricsText.js"
import * as NodeSmtpClient from "../node/NodeSmtpClient.js"
import * as NodeSmtpServer from "../node/NodeSmtpServer.js"
import * as Networks from "../server/Networks.js"
import type { ConfigError } from "../server/ServerConfig.js"
import { parseAddress, SmtpServer } from "../server/SmtpServer.js"
import * as HashPassword from "./HashPassword.js"
import * as RoutesFile from "./RoutesFile.js"
import * as TrustFlags from "./TrustFlags.js"

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
export const classes = ["DebuggingServer", "Sink", "Maildir", "PureProxy", "Router"] as const

/**
 * A wrong flag or value: the message is printed, the exit status is 2.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const address = (name: string, description: string) =>
  Argument.String(name).pipe(
    Argument.withDescription(description),
    Argument.filter(
      (text) => parseAddress(text) !== undefined,
      () => "host:port"
    ),
    Argument.optional
  )

const options = {
  nosetuid: Flag.Boolean("nosetuid").pipe(
    Flag.withDefault(false),
    Flag.withAlias("n"),
    Flag.withDescription("Accepted for smtpd compatibility; the server never switches user.")
  ),
  handlerClass: Flag.Literals("class", classes).pipe(
    Flag.withAlias("c"),
    Flag.withDefault("DebuggingServer" as const),
    Flag.withDescription(
      "What to do with mail: print it (DebuggingServer), drop it (Sink), store it (Maildir), relay it to remoteaddr (PureProxy), or route it by recipient (Router, with --routes). Default DebuggingServer."
    )
  ),
  size: Flag.Int("size").pipe(
    Flag.withAlias("s"),
    Flag.withDefault(33554432),
    Flag.withDescription("Largest message accepted, in bytes; 0 means no limit (default 33554432).")
  ),
  smtputf8: Flag.Boolean("smtputf8").pipe(
    Flag.withDefault(false),
    Flag.withAlias("u"),
    Flag.withDescription("Offer SMTPUTF8 (RFC 6531).")
  ),
  debug: Flag.Boolean("debug").pipe(
    Flag.withDefault(false),
    Flag.withAlias("d"),
    Flag.withDescription("Trace the protocol (commands and replies) on stderr.")
  ),
  maildir: Flag.Directory("maildir").pipe(Flag.optional, Flag.withDescription("The Maildir for --class Maildir.")),
  format: Flag.Literals("format", ["text", "json"]).pipe(
    Flag.withDefault("text" as const),
    Flag.withDescription("DebuggingServer output: smtpd's text (the default), or one JSON line per message.")
  ),
  routes: Flag.File("routes", { mustExist: true }).pipe(
    Flag.optional,
    Flag.withDescription("The routes for --class Router: a JSON file (see the README).")
  ),
  relayNetworks: Flag.String("relay-networks").pipe(
    Flag.withDefault(Networks.loopback.join(",")),
    Flag.withDescription("Clients allowed to relay, comma-separated CIDR networks (default loopback only).")
  ),
  relayMode: Flag.Literals("relay-mode", ["forward", "spool"]).pipe(
    Flag.withDefault("forward" as const),
    Flag.withDescription(
      "forward (the default): each RCPT gets the upstream's verdict live; spool: one upstream transaction at DATA."
    )
  ),
  upstreamTls: Flag.Literals("upstream-tls", ["opportunistic", "required", "off", "implicit"]).pipe(
    Flag.withDefault("opportunistic" as const),
    Flag.withDescription(
      "TLS to the upstream: STARTTLS when offered (the default), STARTTLS or fail, none, or TLS from the start (port 465)."
    )
  ),
  upstreamCa: Flag.File("upstream-ca", { mustExist: true }).pipe(
    Flag.optional,
    Flag.withDescription("CA certificates (PEM) to verify the upstream with, instead of the system's.")
  ),
  upstreamUser: Flag.String("upstream-user").pipe(
    Flag.optional,
    Flag.withDescription("AUTH to the upstream as this user (over TLS only).")
  ),
  upstreamPassword: Flag.Redacted("upstream-password").pipe(
    Flag.withFallbackConfig(Config.Redacted("EFFECT_SMTPD_UPSTREAM_PASSWORD")),
    Flag.optional,
    Flag.withDescription("The upstream password; better given in EFFECT_SMTPD_UPSTREAM_PASSWORD.")
  ),
  workers: Flag.String("workers").pipe(
    Flag.withDefault("1"),
    Flag.withDescription("Worker processes sharing the listeners (node:cluster); auto = one per core (default 1).")
  ),
  metrics: Flag.String("metrics").pipe(
    Flag.optional,
    Flag.withDescription(
      "Serve GET /metrics (Prometheus text format) on host:port; with --workers, the sum of the workers' metrics."
    )
  ),
  listen: Flag.String("listen").pipe(
    Flag.atLeast(0),
    Flag.withDescription("An address to listen on (host:port, [ipv6]:port); repeatable. Overrides localaddr.")
  ),
  localaddr: address("localaddr", "host:port to listen on (default localhost:8025: 127.0.0.1 and ::1)."),
  remoteaddr: address("remoteaddr", "host:port to relay to with --class PureProxy (default localhost:25).")
}

type Parsed = Command.Command.Config.Infer<typeof options & typeof TrustFlags.options>

const upstreamOf = (parsed: Parsed, hostPort: string) =>
  Effect.gen(function* () {
    const { host, port } = parseAddress(hostPort)!
    const fs = yield* FileSystem.FileSystem
    const ca = Option.isSome(parsed.upstreamCa)
      ? yield* fs
          .readFileString(parsed.upstreamCa.value)
          .pipe(Effect.mapError((e) => new UsageError({ message: `--upstream-ca: ${e.message}` })))
      : undefined
    const user = Option.getOrUndefined(parsed.upstreamUser)
    const password = Option.getOrUndefined(parsed.upstreamPassword)
    if ((user === undefined) !== (password === undefined)) {
      return yield* new UsageError({
        message:
          "--upstream-user needs a password (--upstream-password or EFFECT_SMTPD_UPSTREAM_PASSWORD), and the other way round"
      })
    }
    const options: SmtpClient.Options = {
      host,
      port,
      startTls: parsed.upstreamTls === "implicit" ? "off" : parsed.upstreamTls,
      implicitTls: parsed.upstreamTls === "implicit",
      tls: { ca },
      auth: user === undefined || password === undefined ? undefined : { user, password }
    }
    return options
  })

const relayLayer = (parsed: Parsed, hostPort: string, mode: "forward" | "spool") =>
  Effect.map(upstreamOf(parsed, hostPort), (upstream) =>
    Relay.layer({ upstream, mode, relayNetworks: parsed.relayNetworks.split(",").filter((n) => n.trim() !== "") }).pipe(
      Layer.provide(NodeSmtpClient.layer)
    )
  )

const deliverLayer = (parsed: Parsed, deliver: RoutesFile.Deliver) => {
  if (deliver === "sink") return Effect.succeed(Sink.layer)
  if (deliver === "debug") return Effect.succeed(Debugging.layer({ format: parsed.format }))
  if ("maildir" in deliver) return Effect.succeed(Maildir.layerNode({ root: deliver.maildir }))
  return relayLayer(parsed, deliver.relay, deliver.mode ?? parsed.relayMode)
}

const routerLayer = (parsed: Parsed, file: string) =>
  Effect.gen(function* () {
    const config = yield* RoutesFile.load(file).pipe(Effect.mapError((message) => new UsageError({ message })))
    const routes = yield* Effect.forEach(config.routes, (route) =>
      Effect.map(deliverLayer(parsed, route.deliver), (handler) =>
        "address" in route
          ? Router.address(route.address, handler)
          : "localPart" in route
            ? Router.localPart(
                new RegExp(route.localPart),
                handler,
                route.domain === undefined ? {} : { domain: route.domain }
              )
            : Router.domain(route.domain, handler)
      )
    )
    const fallback = config.fallback === undefined ? undefined : yield* deliverLayer(parsed, config.fallback)
    return Router.layer({ routes, fallback })
  })

const handlerLayer = (
  parsed: Parsed
): Effect.Effect<Layer.Layer<MessageHandler, ConfigError>, UsageError, FileSystem.FileSystem> => {
  switch (parsed.handlerClass) {
    case "DebuggingServer":
      return Effect.succeed(Debugging.layer({ format: parsed.format }))
    case "Sink":
      return Effect.succeed(Sink.layer)
    case "Maildir":
      return Option.match(parsed.maildir, {
        onNone: () => Effect.fail(new UsageError({ message: "--class Maildir needs --maildir DIR" })),
        onSome: (root) => Effect.succeed(Maildir.layerNode({ root }))
      })
    case "PureProxy":
      return relayLayer(
        parsed,
        Option.getOrElse(parsed.remoteaddr, () => "localhost:25"),
        parsed.relayMode
      )
    case "Router":
      return Option.match(parsed.routes, {
        onNone: () => Effect.fail(new UsageError({ message: "--class Router needs --routes FILE" })),
        onSome: (file) => routerLayer(parsed, file)
      })
  }
}

// GET /metrics on `address`
const serveMetrics = (address: string, collect: () => Promise<ReadonlyArray<MetricsText.Sample>>) =>
  Effect.gen(function* () {
    const endpoint = yield* MetricsEndpoint.serve(address, collect).pipe(
      Effect.mapError((e) => new UsageError({ message: `--metrics: cannot listen on ${e.address}: ${e.message}` }))
    )
    yield* Console.error(`effect-smtpd ${version}: metrics on http://${formatEndpoint(endpoint)}/metrics`)
  })

/**
 * Runs the server the parsed command line describes, until interrupted (SIGINT/SIGTERM).
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = (parsed: Parsed) =>
  Effect.gen(function* () {
    if (parsed.size < 0) return yield* new UsageError({ message: `--size must be 0 or more, got ${parsed.size}` })
    const handler = yield* handlerLayer(parsed)
    const listen =
      parsed.listen.length > 0 ? parsed.listen : [Option.getOrElse(parsed.localaddr, () => "localhost:8025")]
    const trust = yield* TrustFlags.resolve(parsed).pipe(Effect.mapError((message) => new UsageError({ message })))
    const workers = Cluster.workerCount(parsed.workers)
    if (workers === undefined) {
      return yield* new UsageError({ message: `--workers must be a number from 1 or auto, got ${parsed.workers}` })
    }
    const metrics = Option.getOrUndefined(parsed.metrics)
    if (metrics !== undefined && parseAddress(metrics) === undefined) {
      return yield* new UsageError({ message: `--metrics must be host:port, got ${metrics}` })
    }
    // the primary only looks after its workers; each worker runs this same command as a server
    if (workers > 1 && !Cluster.isWorker()) {
      yield* Console.error(`effect-smtpd ${version}: starting ${workers} workers`)
      return yield* Effect.gen(function* () {
        if (metrics !== undefined) yield* serveMetrics(metrics, Cluster.workersMetrics)
        return yield* Cluster.primary(workers)
      }).pipe(Effect.scoped)
    }
    const server = NodeSmtpServer.layer({
      ...trust.server,
      // with only --tls-listen, no plain listener unless one is asked for
      listen:
        parsed.listen.length === 0 && Option.isNone(parsed.localaddr) && parsed.tlsListen.length > 0 ? [] : listen,
      maxMessageSize: parsed.size,
      smtpUtf8: parsed.smtputf8,
      trace: parsed.debug
    }).pipe(Layer.provide(handler), Layer.provide(trust.authenticator ?? Layer.empty))
    const logLevel = parsed.debug ? "Debug" : "Info"
    yield* Effect.gen(function* () {
      const { addresses, reloadTls, tlsAddresses } = yield* SmtpServer
      // SIGHUP reloads the certificates, as daemons do
      const runFork = Effect.runForkWith(yield* Effect.context<never>())
      const reload = () =>
        runFork(
          reloadTls.pipe(
            Effect.andThen(Effect.logInfo("certificates reloaded")),
            Effect.catch((e) => Effect.logWarning(`certificates not reloaded: ${e.message}`))
          )
        )
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("SIGHUP", reload)),
        () => Effect.sync(() => process.off("SIGHUP", reload))
      )
      const where = [...addresses.map(formatEndpoint), ...tlsAddresses.map((a) => `${formatEndpoint(a)} (TLS)`)]
      yield* Console.error(`effect-smtpd ${version}: ${parsed.handlerClass} listening on ${where.join(", ")}`)
      // every server metric shows from the start, in this process's reading; a worker's is read
      // by the primary, which serves their sum
      if (metrics !== undefined) Metrics.register()
      if (Cluster.isWorker()) yield* Cluster.answerMetrics
      else if (metrics !== undefined) yield* serveMetrics(metrics, () => Effect.runPromise(MetricsText.snapshot))
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(server),
      Effect.catchTags({
        ConfigError: (e) => Effect.fail(new UsageError({ message: e.message })),
        AuthFileError: (e) => Effect.fail(new UsageError({ message: e.message })),
        ListenError: (e) => Effect.fail(new UsageError({ message: `cannot listen on ${e.address}: ${e.message}` }))
      }),
      // logs go to stderr: stdout belongs to the DebuggingServer's output
      Effect.provide(Logger.layer([Logger.withConsoleError(Logger.formatLogFmt), Logger.tracerLogger])),
      Effect.provideService(References.MinimumLogLevel, logLevel)
    )
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const command = Command.make("effect-smtpd", { ...options, ...TrustFlags.options }, serve).pipe(
  Command.withDescription(
    "An SMTP server on Effect: smtpd's DebuggingServer and PureProxy, a sink, a Maildir, or a router."
  ),
  Command.withSubcommands([HashPassword.command])
)

// `--version` prints the bare version, as smtpd's `-V` does; a wrong flag or value prints only
// the problem, on stderr: stdout belongs to the DebuggingServer's output
const presenter: CliOutput.Presenter = {
  present: (event) => {
    switch (event._tag) {
      case "Version":
        return Console.log(event.version)
      case "InvalidInvocation":
        return Effect.forEach(event.errors, (error) => Console.error(`effect-smtpd: ${error.message}`), {
          discard: true
        })
      case "Help":
        return CliOutput.defaultPresenter.present(event)
    }
  }
}

/**
 * Runs the command on `argv` (`process.argv`); smtpd's `-V` means `--version`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (argv: ReadonlyArray<string>) =>
  Command.runWith(command, { version })(argv.slice(2).map((arg) => (arg === "-V" ? "--version" : arg))).pipe(
    Effect.provide(CliOutput.layerPresenter(presenter))
  )
