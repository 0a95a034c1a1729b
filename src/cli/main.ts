#!/usr/bin/env node
/**
 * The `effect-smtpd` executable. Exit status: 0 after a clean shutdown (or the end of a `--stdio`
 * session: QUIT, or the end of its input), 2 for a wrong flag or value (as Python's smtpd), 130
 * for Ctrl-C at the password prompt, 1 for anything else: a queue that cannot be opened, or a
 * `queue` command's message not found, with a one-line message.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { CliError } from "effect/cli"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import * as V8 from "node:v8"
import * as ReadBuffers from "../node/ReadBuffers.js"
import * as Cli from "./Cli.js"

// node:sqlite (the SQLite queue's driver, loaded with the bundle) is "experimental" in Node 22:
// its warning on every start would be noise. Node prints warnings from a "warning" listener, on
// the tick after the import: every other warning still reaches it.
const printWarning = process.listeners("warning")
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  if (warning.name === "ExperimentalWarning" && /SQLite/.test(warning.message)) return
  for (const listener of printWarning) listener(warning)
})

// V8's allocation-site pretenuring off: under connection churn it made every later connection's
// objects old, and scavenges slow (docs/performance/gc.md). This process is the server.
V8.setFlagsFromString("--no-allocation-site-pretenuring")
// Dead socket read buffers are collected once 8 MiB have been read since the last young
// collection, rather than once 32 MiB of them wait (ReadBuffers.ts): a large message then adds
// ~16 MiB to the RSS instead of ~35.
ReadBuffers.collectEvery(8 * 1024 * 1024)

const exitWith = (status: number, message: string | undefined) =>
  Effect.andThen(
    message === undefined ? Effect.void : Console.error(`effect-smtpd: ${message}`),
    Effect.sync(() => {
      process.exitCode = status
    })
  )

// SIGINT and SIGTERM interrupt the program (NodeRuntime.runMain): that is the server's clean
// shutdown, status 0. Any other interruption (Ctrl-C at the password prompt, which is no signal
// in raw mode) keeps Effect's 130.
let signalled = false
const onSignal = () => {
  signalled = true
}
process.once("SIGINT", onSignal)
process.once("SIGTERM", onSignal)
const teardown: Runtime.Teardown = (exit, onExit) => {
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
  return signalled && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
    ? onExit(0)
    : Runtime.defaultTeardown(exit, onExit)
}

Cli.run(process.argv).pipe(
  Effect.catch((error) =>
    CliError.isCliError(error)
      ? exitWith(2, undefined) // the command has printed the problem already
      : error._tag === "UsageError"
        ? exitWith(2, error.message)
        : error._tag === "QueueOpenError" || error._tag === "QueueCommandError"
          ? exitWith(1, error.message)
          : Effect.fail(error)
  ),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ teardown })
)
