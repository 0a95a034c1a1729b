/**
 * The `hash-password` command: prints a `Passwords.hash` of a password, for a users file
 * (`Authenticator.fromFile`). The password comes from stdin when it is piped
 * (`printf %s "$PASSWORD" | effect-smtpd hash-password`), or from a prompt, typed twice and not
 * echoed, when stdin is a terminal. It is never taken from the command line, where `ps` and
 * the shell history would show it.
 *
 * @since 0.1.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Command, Prompt } from "effect/cli"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Passwords from "../auth/Passwords.js"

/**
 * No usable password: an empty one, two prompts that differ, unreadable stdin. Tagged
 * `UsageError` like `Cli.UsageError`, so `main.ts` prints the message and exits with 2.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

// far more than any password; a file piped in by mistake is refused rather than hashed
const maxBytes = 64 * 1024

// `echo secret | …` adds a newline that is not part of the password: strip one
const stripNewline = (text: string) => text.replace(/\r?\n$/, "")

const fromStdin = NodeStream.toString(() => process.stdin, {
  onError: () => new UsageError({ message: `cannot read the password from stdin (at most ${maxBytes} bytes)` }),
  maxBytes
}).pipe(Effect.map(stripNewline))

const nonEmpty = (value: string) => (value === "" ? Effect.fail("The password cannot be empty") : Effect.succeed(value))

const fromPrompt = Effect.gen(function* () {
  const password = yield* Prompt.run(Prompt.Password({ message: "Password", validate: nonEmpty }))
  const again = yield* Prompt.run(Prompt.Password({ message: "Password again" }))
  if (Redacted.value(password) !== Redacted.value(again)) {
    return yield* new UsageError({ message: "the passwords do not match" })
  }
  return Redacted.value(password)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const command = Command.make("hash-password", {}, () =>
  Effect.gen(function* () {
    const password = (yield* Effect.sync(() => process.stdin.isTTY === true)) ? yield* fromPrompt : yield* fromStdin
    if (password === "") return yield* new UsageError({ message: "the password is empty" })
    yield* Console.log(yield* Passwords.hash(password))
  })
).pipe(
  Command.withDescription(
    "Print an scrypt hash of a password for a users file (user:hash). The password is read from stdin, or asked for when stdin is a terminal."
  )
)
