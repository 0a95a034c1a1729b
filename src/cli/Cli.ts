/**
 * The `effect-smtpd` command: Python's `python -m smtpd` with the same flags, plus
 * `--maildir`, `--format`, repeatable `--listen` (TCP or `unix:/path`), `--stdio`, `--lmtp`,
 * `--relay-mode queue` (with `--queue`), and the `hash-password` and `queue` subcommands.
 *
 * @since 0.1.0
 */
import { CliConfig, type CliError, CliOutput, Command, GlobalFlag } from "effect/cli"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import * as Os from "node:os"
import type { MessageHandler } from "../handler/MessageHandler.js"
import { formatEndpoint } from "../handler/SessionInfo.js"
import * as Cluster from "../node/Cluster.js"
import * as ClusterAuthLimit from "../node/ClusterAuthLimit.js"
import * as Listening from "../node/Listening.js"
import * as MetricsEndpoint from "../node/MetricsEndpoint.js"
import type * as NodeMailQueue from "../node/NodeMailQueue.js"
import * as NodeSmtpServer from "../node/NodeSmtpServer.js"
import type { MailQueue } from "../queue/MailQueue.js"
import * as Metrics from "../server/Metrics.js"
import * as MetricsText from "../server/MetricsText.js"
import { parseAddress, SmtpServer } from "../server/SmtpServer.js"
import * as SmtpSession from "../session/SmtpSession.js"
import { advertisedSize, handlerLayer } from "./Handlers.js"
import * as HashPassword from "./HashPassword.js"
import { options, type Parsed, UsageError, version } from "./Options.js"
import * as QueueCommand from "./QueueCommand.js"
import * as Inboxing from "./Inboxing.js"
import * as Queueing from "./Queueing.js"
import * as TrustFlags from "./TrustFlags.js"
import * as Environment from "./Environment.js"
import * as Tracing from "./Tracing.js"

export { classes, UsageError, version } from "./Options.js"

// --command-deadline SECONDS, as the server's option
const commandDeadline = (parsed: Parsed): Effect.Effect<Duration.Duration | undefined, UsageError> =>
  Option.match(parsed.commandDeadline, {
    onNone: () => Effect.succeed(undefined),
    onSome: (seconds) =>
      seconds >= 1
        ? Effect.succeed(Duration.seconds(seconds))
        : Effect.fail(new UsageError({ message: `--command-deadline must be at least 1, got ${seconds}` }))
  })

// --max-hops N: a loop limit of 0 would refuse every message that went through one relay
const checkMaxHops = (parsed: Parsed): Effect.Effect<void, UsageError> =>
  parsed.maxHops >= 1
    ? Effect.void
    : Effect.fail(new UsageError({ message: `--max-hops must be at least 1, got ${parsed.maxHops}` }))

// --workers N|auto; not with a Unix socket: each worker would find the others' socket live and
// refuse to take it over
const workerCount = (parsed: Parsed, listen: ReadonlyArray<string>): Effect.Effect<number, UsageError> => {
  const workers = Cluster.workerCount(parsed.workers)
  if (workers === undefined) {
    return Effect.fail(new UsageError({ message: `--workers must be a number from 1 or auto, got ${parsed.workers}` }))
  }
  const unix = listen.filter((address) => Listening.parseUnix(address) !== undefined)
  if (workers > 1 && unix.length > 0) {
    const message = `--workers cannot share a Unix socket (${unix.join(", ")}): run one process there, or listen on TCP`
    return Effect.fail(new UsageError({ message }))
  }
  return Effect.succeed(workers)
}

// the protocol flags, for a listener as for --stdio
const protocolOptions = (parsed: Parsed) => ({
  maxMessageSize: parsed.size,
  smtpUtf8: parsed.smtputf8,
  trace: parsed.debug,
  bareLineEndings: parsed.bareLf,
  lmtp: parsed.lmtp,
  chunking: parsed.chunking,
  dsn: parsed.dsn
})

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
export const serve = (given: Parsed) =>
  Effect.gen(function* () {
    // the repeatable flags from the environment too (the others read it as they are parsed)
    const parsed: Parsed = {
      ...given,
      listen: yield* Environment.repeated("listen", given.listen),
      tlsListen: yield* Environment.repeated("tls-listen", given.tlsListen),
      proxyProtocolFrom: yield* Environment.repeated("proxy-protocol-from", given.proxyProtocolFrom)
    }
    if (parsed.size < 0) return yield* new UsageError({ message: `--size must be 0 or more, got ${parsed.size}` })
    const deadline = yield* commandDeadline(parsed)
    yield* checkMaxHops(parsed)
    if (parsed.stdio) return yield* serveStdio(parsed, deadline)
    const listen =
      parsed.listen.length > 0 ? parsed.listen : [Option.getOrElse(parsed.localaddr, () => "localhost:8025")]
    const trust = yield* TrustFlags.resolve(parsed).pipe(Effect.mapError((message) => new UsageError({ message })))
    const workers = yield* workerCount(parsed, listen)
    const queueing = yield* Queueing.layer(parsed, workers)
    // the inbox (and its web server) for --class Inbox, started before the SMTP listener
    const inboxing = yield* Inboxing.layer(parsed, workers)
    const handler = yield* handlerLayer(parsed, inboxing)
    const authenticator = Inboxing.authenticator(trust.authenticator, inboxing)
    const metrics = Option.getOrUndefined(parsed.metrics)
    if (metrics !== undefined && parseAddress(metrics) === undefined) {
      return yield* new UsageError({ message: `--metrics must be host:port, got ${metrics}` })
    }
    // the primary only looks after its workers; each worker runs this same command as a server
    if (workers > 1 && !Cluster.isWorker()) {
      yield* Console.error(`effect-smtpd ${version}: starting ${workers} workers`)
      return yield* Effect.gen(function* () {
        if (metrics !== undefined) yield* serveMetrics(metrics, Cluster.workersMetrics)
        // the AUTH failures of all workers counted in one place
        const rate = trust.server.authRateLimit
        yield* ClusterAuthLimit.primary({
          attempts: rate?.attempts ?? 10,
          windowMs: Duration.toMillis(Duration.fromInputUnsafe(rate?.window ?? "60 seconds"))
        })
        return yield* Cluster.primary(workers)
      }).pipe(Effect.scoped)
    }
    const otlp = yield* Tracing.endpoint(parsed.otlp)
    const server = NodeSmtpServer.layer({
      ...trust.server,
      tracing: otlp !== undefined,
      authRateLimit: {
        attempts: trust.server.authRateLimit?.attempts ?? 10,
        window: trust.server.authRateLimit?.window ?? "60 seconds",
        link: Cluster.isWorker() ? ClusterAuthLimit.workerLink() : undefined
      },
      // with only --tls-listen, no plain listener unless one is asked for
      listen:
        parsed.listen.length === 0 && Option.isNone(parsed.localaddr) && parsed.tlsListen.length > 0 ? [] : listen,
      ...protocolOptions(parsed),
      // in front of a relay, room for what it adds (and no more than its upstream takes)
      maxMessageSize: yield* advertisedSize(parsed),
      commandDeadline: deadline
    }).pipe(
      Layer.provide(withQueue(handler, queueing)),
      Layer.provide(authenticator ?? Layer.empty),
      // the tracer under all of it: the sessions' spans, and the relay's upstream commands
      Layer.provide(otlp === undefined ? Layer.empty : Tracing.layer(otlp, version))
    )
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
      const all = [...addresses.map(formatEndpoint), ...tlsAddresses.map((a) => `${formatEndpoint(a)} (TLS)`)]
      const lmtp = parsed.lmtp ? " (LMTP)" : ""
      yield* Console.error(`effect-smtpd ${version}: ${parsed.handlerClass}${lmtp} listening on ${all.join(", ")}`)
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
        ListenError: (e) => Effect.fail(new UsageError({ message: `cannot listen on ${e.address}: ${e.message}` })),
        InboxOpenError: (e) => Effect.fail(new UsageError({ message: e.message }))
      }),
      // logs go to stderr: stdout belongs to the DebuggingServer's output
      Effect.provide(stderrLogger),
      Effect.provideService(References.MinimumLogLevel, logLevel)
    )
  })

// the queue, for the handler's queue-mode relays, opened (and its delivery started) before it
const withQueue = <E>(
  handler: Layer.Layer<MessageHandler, E>,
  queueing: Layer.Layer<MailQueue, NodeMailQueue.QueueOpenError> | undefined
) => (queueing === undefined ? handler : handler.pipe(Layer.provide(queueing)))

const stderrLogger = Logger.layer([Logger.withConsoleError(Logger.formatLogFmt), Logger.tracerLogger])

// inetd and systemd hand over a socket (its two ends); a pipe is a local user (sendmail -bs)
const stdioEndpoints = () => {
  const { localAddress, localPort, remoteAddress, remotePort } = process.stdin
  const loopback = { address: "127.0.0.1", port: 0 }
  if (remoteAddress === undefined) return { peer: loopback, local: loopback }
  return {
    peer: { address: remoteAddress, port: remotePort ?? 0 },
    local: { address: localAddress ?? loopback.address, port: localPort ?? 0 }
  }
}

// One session on standard input and output. The replies own stdout: the DebuggingServer, which
// prints there, cannot run; flags for listeners or TLS would have nothing to act on.
const serveStdio = (parsed: Parsed, commandDeadline: Duration.Duration | undefined) =>
  Effect.gen(function* () {
    if (parsed.handlerClass === "DebuggingServer") {
      return yield* new UsageError({
        message: "--stdio cannot run --class DebuggingServer: its output would mix with the replies on stdout"
      })
    }
    if (parsed.handlerClass === "Inbox") {
      return yield* new UsageError({
        message: "--stdio cannot run --class Inbox: its web inbox lives only as long as one session; run it as a server"
      })
    }
    const unused = Object.entries({
      "--listen": parsed.listen.length > 0,
      "--tls-listen": parsed.tlsListen.length > 0,
      "--tls-cert": Option.isSome(parsed.tlsCert),
      "--workers": parsed.workers !== "1",
      "--metrics": Option.isSome(parsed.metrics),
      "--proxy-protocol-from": parsed.proxyProtocolFrom.length > 0
    }).flatMap(([flag, given]) => (given ? [flag] : []))
    if (unused.length > 0) {
      return yield* new UsageError({ message: `--stdio serves no listener and no TLS: drop ${unused.join(", ")}` })
    }
    const handler = withQueue(yield* handlerLayer(parsed), yield* Queueing.layer(parsed, 1))
    const trust = yield* TrustFlags.resolve(parsed).pipe(Effect.mapError((message) => new UsageError({ message })))
    const stdio = yield* Stdio.Stdio
    const { authInsecure, idleTimeout, maxRecipients, requireAuth } = trust.server
    const session = SmtpSession.run(stdio.stdin, {
      ...{ authInsecure, idleTimeout, maxRecipients, requireAuth },
      ...stdioEndpoints(),
      hostname: Os.hostname(),
      ...protocolOptions(parsed),
      commandDeadline
    })
    yield* Stream.run(session, stdio.stdout()).pipe(
      // a client may keep its end open after QUIT: the process does not wait for it
      Effect.ensuring(Effect.sync(() => process.stdin.destroy())),
      Effect.provide(handler),
      Effect.provide(trust.authenticator ?? Layer.empty),
      Effect.catchTags({
        ConfigError: (e) => Effect.fail(new UsageError({ message: e.message })),
        AuthFileError: (e) => Effect.fail(new UsageError({ message: e.message }))
      }),
      Effect.provide(stderrLogger),
      Effect.provideService(References.MinimumLogLevel, parsed.debug ? "Debug" : "Info")
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
  Command.withSubcommands([HashPassword.command, QueueCommand.command])
)

// `--version` prints the bare version, as smtpd's `-V` does; a wrong flag or value prints only
// the problem, on stderr: stdout belongs to the DebuggingServer's output
// What was wrong, on one line: a flag's value from its EFFECT_SMTPD_* variable is told by the
// variable's name and what it should be (effect/cli tells it as the flag's value "config", with
// the Schema's failure over several lines)
const problem = (error: CliError.CliError): string => {
  if (error._tag !== "InvalidValue" || error.kind !== "flag" || error.value !== "config") return error.message
  const expected = /Expected ([^\n]*)/.exec(error.expected)?.[1]?.trim() ?? "another value"
  const variable = Environment.env(error.option)
  return `${variable} (--${error.option}) is ${JSON.stringify(process.env[variable] ?? "")}: expected ${expected}`
}

const presenter: CliOutput.Presenter = {
  present: (event) => {
    switch (event._tag) {
      case "Version":
        return Console.log(event.version)
      case "InvalidInvocation":
        return Effect.forEach(event.errors, (error) => Console.error(`effect-smtpd: ${problem(error)}`), {
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
    Effect.provide(CliOutput.layerPresenter(presenter)),
    // effect/cli's own flags, but its interactive --wizard: a server's flags are given, not asked for
    Effect.provide(CliConfig.layer({ builtIns: builtIns.filter((flag) => flag !== GlobalFlag.Wizard) }))
  )

const builtIns: ReadonlyArray<GlobalFlag.BuiltIn> = GlobalFlag.BuiltIns
