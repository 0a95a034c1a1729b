/**
 * The `effect-smtpd` command: Python's `python -m smtpd` with the same flags, plus
 * `--maildir`, `--format` and repeatable `--listen`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type { MessageHandler } from "../handler/MessageHandler.js"
import { formatEndpoint } from "../handler/SessionInfo.js"
import * as Debugging from "../handlers/Debugging.js"
import * as Maildir from "../handlers/Maildir.js"
import * as Sink from "../handlers/Sink.js"
import * as NodeSmtpServer from "../node/NodeSmtpServer.js"
import { parseAddress, SmtpServer } from "../server/SmtpServer.js"

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
export const classes = ["DebuggingServer", "Sink", "Maildir"] as const

/**
 * A wrong flag or value: the message is printed, the exit status is 2.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const address = (name: string, description: string) =>
  Args.text({ name }).pipe(
    Args.withDescription(description),
    Args.mapEffect((text) =>
      parseAddress(text) === undefined
        ? Effect.fail(HelpDoc.p(`${name}: expected host:port, got ${text}`))
        : Effect.succeed(text)
    ),
    Args.optional
  )

const options = {
  nosetuid: Options.boolean("nosetuid").pipe(
    Options.withAlias("n"),
    Options.withDescription("Accepted for smtpd compatibility; the server never switches user.")
  ),
  handlerClass: Options.choice("class", classes).pipe(
    Options.withAlias("c"),
    Options.withDefault("DebuggingServer" as const),
    Options.withDescription("What to do with mail: print it (DebuggingServer), drop it (Sink), or store it (Maildir).")
  ),
  size: Options.integer("size").pipe(
    Options.withAlias("s"),
    Options.withDefault(33554432),
    Options.withDescription("Largest message accepted, in bytes; 0 means no limit.")
  ),
  smtputf8: Options.boolean("smtputf8").pipe(
    Options.withAlias("u"),
    Options.withDescription("Offer SMTPUTF8 (RFC 6531).")
  ),
  debug: Options.boolean("debug").pipe(
    Options.withAlias("d"),
    Options.withDescription("Trace the protocol (commands and replies) on stderr.")
  ),
  maildir: Options.directory("maildir", { exists: "either" }).pipe(
    Options.optional,
    Options.withDescription("The Maildir for --class Maildir.")
  ),
  format: Options.choice("format", ["text", "json"]).pipe(
    Options.withDefault("text" as const),
    Options.withDescription("DebuggingServer output: smtpd's text, or one JSON line per message.")
  ),
  listen: Options.text("listen").pipe(
    Options.repeated,
    Options.withDescription("An address to listen on (host:port, [ipv6]:port); repeatable. Overrides localaddr.")
  ),
  localaddr: address("localaddr", "host:port to listen on (default localhost:8025: 127.0.0.1 and ::1)."),
  remoteaddr: address(
    "remoteaddr",
    "smtpd's relay address: accepted for compatibility, unused until a relaying class exists."
  )
}

type Parsed = Command.Command.ParseConfig<typeof options>

const handlerLayer = (parsed: Parsed): Effect.Effect<Layer.Layer<MessageHandler>, UsageError> => {
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
  }
}

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
    const server = NodeSmtpServer.layer({
      listen,
      maxMessageSize: parsed.size,
      smtpUtf8: parsed.smtputf8,
      trace: parsed.debug
    }).pipe(Layer.provide(handler))
    const logLevel = parsed.debug ? LogLevel.Debug : LogLevel.Info
    yield* Effect.gen(function* () {
      const { addresses } = yield* SmtpServer
      yield* Console.error(
        `effect-smtpd ${version}: ${parsed.handlerClass} listening on ${addresses.map(formatEndpoint).join(", ")}`
      )
      return yield* Effect.never
    }).pipe(
      Effect.provide(server),
      Effect.catchTags({
        ConfigError: (e) => Effect.fail(new UsageError({ message: e.message })),
        ListenError: (e) => Effect.fail(new UsageError({ message: `cannot listen on ${e.address}: ${e.message}` }))
      }),
      // logs go to stderr: stdout belongs to the DebuggingServer's output
      Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))),
      Logger.withMinimumLogLevel(logLevel)
    )
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const command = Command.make("effect-smtpd", options, serve).pipe(
  Command.withDescription("An SMTP server: smtpd's DebuggingServer, a sink, or a Maildir, on Effect.")
)

/**
 * Runs the command on `argv` (`process.argv`); smtpd's `-V` means `--version`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "effect-smtpd", version })(argv.map((arg) => (arg === "-V" ? "--version" : arg)))
