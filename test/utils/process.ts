// Real client programs run as child processes. Asynchronously: the server under test runs in this
// same process, so a blocking spawnSync would stall it.
import { Data, Duration, Effect } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tools from "./tools.js"

/** A child process could not run to its end: not installed, killed by the deadline, … */
export class ProcessError extends Data.TaggedError("ProcessError")<{ readonly message: string }> {}

export interface ProcessResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
}

export interface ProcessOptions {
  /** Written to the child's stdin, which is then closed (it is closed at once without input). */
  readonly input?: Uint8Array | string | undefined
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Killed with SIGKILL after this long, and the effect fails (default 20 seconds). */
  readonly timeout?: Duration.Input | undefined
}

const installHint = (command: string) =>
  Tools.isTool(command) ? Tools.installHint(command) : `install ${command}, or run \`npm run test:tools\``

/**
 * Runs `command args`, collecting stdout and stderr. A missing program fails with a message that
 * says how to install it (tests that need one are skipped without it, see tools.ts, unless tools
 * are required: then they fail here).
 * Interrupting the effect kills the child.
 */
export const runProcess = (
  command: string,
  args: ReadonlyArray<string>,
  options: ProcessOptions = {}
): Effect.Effect<ProcessResult, ProcessError> =>
  Effect.callback<ProcessResult, ProcessError>((resume) => {
    const timeout = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? "20 seconds"))
    const child = ChildProcess.spawn(command, [...args], {
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    let done = false
    const finish = (effect: Effect.Effect<ProcessResult, ProcessError>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(effect)
    }
    const decode = (chunks: Array<Buffer>) => Buffer.concat(chunks).toString("utf8")
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      finish(
        Effect.fail(
          new ProcessError({
            message: `${command} ${args.join(" ")} did not finish within ${timeout} ms\nstdout: ${decode(stdout)}\nstderr: ${decode(stderr)}`
          })
        )
      )
    }, timeout)
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk))
    child.on("error", (error: NodeJS.ErrnoException) => {
      const message =
        error.code === "ENOENT"
          ? `${command} is not installed (spawn ENOENT); these interop tests need it: ${installHint(command)}`
          : `${command} could not run: ${error.message}`
      finish(Effect.fail(new ProcessError({ message })))
    })
    child.on("close", (exitCode, signal) =>
      finish(Effect.succeed({ stdout: decode(stdout), stderr: decode(stderr), exitCode, signal }))
    )
    // a child that exits without reading its input must not crash the test with EPIPE
    child.stdin.on("error", () => {})
    child.stdin.end(options.input ?? "")
    return Effect.sync(() => {
      done = true
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** Runs a Python script; `args` are its `sys.argv[1:]`. */
export const python = (script: string, args: ReadonlyArray<string> = [], options?: ProcessOptions) =>
  runProcess("python3", ["-c", script, ...args], options)

/** Runs a Python script; its stdout, or a failure with its stderr when it exits non-zero. */
export const pythonOk = (
  script: string,
  args: ReadonlyArray<string> = [],
  options?: ProcessOptions
): Effect.Effect<string, ProcessError> =>
  Effect.flatMap(python(script, args, options), (result) =>
    result.exitCode === 0
      ? Effect.succeed(result.stdout)
      : Effect.fail(new ProcessError({ message: `python3 exited ${result.exitCode}: ${result.stderr}` }))
  )

/** A file holding `content`, removed when the scope closes: for clients that read a message from a file. */
export const messageFile = (content: string | Uint8Array): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(
    Effect.map((dir) => Path.join(dir, "message.eml")),
    Effect.tap((path) => Effect.sync(() => Fs.writeFileSync(path, content)))
  )
