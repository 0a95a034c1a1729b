#!/usr/bin/env node
/**
 * The `effect-smtpd` executable. Exit status: 0 after a clean shutdown, 2 for a wrong flag or
 * value (as Python's smtpd), 1 for anything else.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Cli from "./Cli.js"

const usage = (message: string | undefined) =>
  Effect.zipRight(
    message === undefined ? Effect.void : Console.error(`effect-smtpd: ${message}`),
    Effect.sync(() => {
      process.exitCode = 2
    })
  )

Cli.run(process.argv).pipe(
  Effect.catchAll((error) =>
    error._tag === "UsageError"
      ? usage(error.message)
      : ValidationError.isValidationError(error)
        ? usage(undefined) // @effect/cli has printed the problem already
        : Effect.fail(error)
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
