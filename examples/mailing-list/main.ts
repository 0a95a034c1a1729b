/**
 * Runs the mailing-list server:
 *
 * ```sh
 * npx esbuild examples/mailing-list/main.ts --bundle --platform=node --format=esm --outfile=/tmp/mailing-list.mjs
 * node /tmp/mailing-list.mjs --lists examples/mailing-list/lists.json --listen 127.0.0.1:2525 --upstream 127.0.0.1:25
 * ```
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Data, Effect, Exit, Runtime } from "effect"
import { parseArgs } from "node:util"
import { formatEndpoint } from "../../src/handler/SessionInfo.js"
import { parseAddress, SmtpServer } from "../../src/server/SmtpServer.js"
import * as Lists from "./Lists.js"
import * as Server from "./Server.js"

class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const usage =
  "usage: main.ts --lists FILE [--listen HOST:PORT]... [--upstream HOST:PORT] [--hostname NAME] [--starttls opportunistic|required|off]"

const exit = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

const options = Effect.try({
  try: () =>
    parseArgs({
      // a runner (`npm run x -- ...`) may pass on the `--` that separates its flags from ours
      args: process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === "--")),
      options: {
        lists: { type: "string" },
        listen: { type: "string", multiple: true },
        upstream: { type: "string", default: "127.0.0.1:25" },
        hostname: { type: "string" },
        starttls: { type: "string", default: "opportunistic" }
      }
    }).values,
  catch: (error) => new UsageError({ message: error instanceof Error ? error.message : String(error) })
})

const program = Effect.gen(function* () {
  const args = yield* options
  if (args.lists === undefined) return yield* new UsageError({ message: "--lists is required" })
  const upstream = parseAddress(args.upstream)
  if (upstream === undefined) return yield* new UsageError({ message: `--upstream: expected host:port` })
  const startTls = args.starttls
  if (startTls !== "opportunistic" && startTls !== "required" && startTls !== "off") {
    return yield* new UsageError({ message: "--starttls: opportunistic, required or off" })
  }
  const lists = yield* Lists.load(args.lists)
  const server = Server.layer({
    lists,
    upstream: { host: upstream.host, port: upstream.port, startTls },
    server: { listen: args.listen ?? ["127.0.0.1:2525"], hostname: args.hostname }
  })
  yield* Effect.gen(function* () {
    const { addresses } = yield* SmtpServer
    yield* Effect.log(
      `${lists.lists.length} lists at ${lists.domain} on ${addresses.map(formatEndpoint).join(", ")}, upstream ${args.upstream}`
    )
    return yield* Effect.never
  }).pipe(Effect.provide(server))
})

program.pipe(
  Effect.catchTags({
    UsageError: (error) => Console.error(`${error.message}\n${usage}`).pipe(Effect.andThen(exit(2))),
    ListsError: (error) => Console.error(error.message).pipe(Effect.andThen(exit(1)))
  }),
  Effect.provide(NodeFileSystem.layer),
  // SIGINT and SIGTERM interrupt the program: that is the server's clean shutdown, status 0
  NodeRuntime.runMain({
    teardown: (exit, onExit) =>
      Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
  })
)
