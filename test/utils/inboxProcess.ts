// The built command as `--class Inbox` in a child process (issue 16's interop tests): started
// until it names both its web address and its SMTP port, SIGKILLed when the scope closes; and
// the little HTTP and websocket clients that talk to its Mailpit API.
import { Effect } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface InboxProcess {
  readonly pid: number
  /** The SMTP port. */
  readonly port: number
  /** The web inbox and API, `http://127.0.0.1:PORT`. */
  readonly web: string
  readonly stderr: () => string
  /** Whether the process is still running. */
  readonly running: () => boolean
  /** Sends `signal` and waits for the process to exit. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

const webLine = /web inbox and Mailpit API on (http:\/\/127\.0\.0\.1:\d+)/
const smtpLine = /Inbox listening on 127\.0\.0\.1:(\d+)/

/**
 * `node main -n -c Inbox --web 127.0.0.1:0 ARGS 127.0.0.1:0`, once it says where it listens
 * (both lines); SIGKILLed when the scope closes.
 */
export const inboxProcess = (
  main: string,
  args: ReadonlyArray<string> = []
): Effect.Effect<InboxProcess, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<InboxProcess, Error>((resume) => {
      const child = ChildProcess.spawn(
        process.execPath,
        [main, "-n", "-c", "Inbox", "--web", "127.0.0.1:0", ...args, "127.0.0.1:0"],
        { stdio: ["ignore", "ignore", "pipe"] }
      )
      const exited = new Promise<void>((done) => child.once("exit", () => done()))
      const running = () => child.exitCode === null && child.signalCode === null
      let stderr = ""
      let done = false
      const finish = (effect: Effect.Effect<InboxProcess, Error>) => {
        if (done) return
        done = true
        clearTimeout(timer)
        resume(effect)
      }
      const timer = setTimeout(() => finish(Effect.fail(new Error(`no listening lines: ${stderr}`))), 30_000)
      child.stderr!.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
        const web = webLine.exec(stderr)?.[1]
        const port = smtpLine.exec(stderr)?.[1]
        if (web === undefined || port === undefined) return
        const kill = (signal: NodeJS.Signals) =>
          Effect.promise(() => {
            if (running()) child.kill(signal)
            return exited
          })
        finish(Effect.succeed({ pid: child.pid!, port: Number(port), web, stderr: () => stderr, running, kill }))
      })
      child.once("exit", (code) => finish(Effect.fail(new Error(`exited ${code} before listening: ${stderr}`))))
      child.once("error", (error) => finish(Effect.fail(error)))
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    (inbox) => inbox.kill("SIGKILL")
  )

// --- HTTP --------------------------------------------------------------------------------------

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: Buffer
  readonly text: string
  /** The body as JSON; undefined when it is none. */
  readonly json: any
}

/** One request to `web` + `path`, its whole answer (a 30 s deadline). */
export const request = (
  web: string,
  path: string,
  init: { readonly method?: string; readonly body?: string | undefined; readonly json?: unknown } = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const body = init.json !== undefined ? JSON.stringify(init.json) : init.body
    const response = await fetch(web + path, {
      method: init.method ?? "GET",
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
      signal: AbortSignal.timeout(30_000)
    })
    const bytes = Buffer.from(await response.arrayBuffer())
    const text = bytes.toString("utf8")
    let json: unknown = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, body: bytes, text, json }
  })

/** GET `path`, which must answer 200 with JSON: the JSON. */
export const getJson = (web: string, path: string) =>
  Effect.map(request(web, path), (answer) => {
    if (answer.status !== 200 || answer.json === undefined) {
      throw new Error(`GET ${path}: ${answer.status} ${answer.text.slice(0, 500)}`)
    }
    return answer.json
  })

/** Runs `effect` every 100 ms until `done` holds of its value or `ms` pass; the last value. */
export const poll = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean, ms = 20_000) =>
  Effect.gen(function* () {
    const end = Date.now() + ms
    let value = yield* effect
    while (!done(value) && Date.now() < end) {
      yield* Effect.sleep("100 millis")
      value = yield* effect
    }
    return value
  })

// --- the websocket ------------------------------------------------------------------------------

export interface Frame {
  readonly Type: string
  readonly Data: any
}

export interface Events {
  /** The frames so far, in order. */
  readonly frames: () => ReadonlyArray<Frame>
  /** Waits (up to `ms`) for a frame after the first `after` that `matches`; undefined if none came. */
  readonly next: (matches: (frame: Frame) => boolean, after?: number, ms?: number) => Effect.Effect<Frame | undefined>
}

/** A websocket on `web`'s /api/events, open for the scope, once its first frame arrived. */
export const events = (web: string): Effect.Effect<Events, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ socket: WebSocket; events: Events }, Error>((resume) => {
      const socket = new WebSocket(web.replace(/^http/, "ws") + "/api/events")
      const frames: Array<Frame> = []
      let done = false
      const timer = setTimeout(() => {
        if (done) return
        done = true
        resume(Effect.fail(new Error("no first frame on the websocket")))
      }, 20_000)
      const eventsOf: Events = {
        frames: () => frames,
        next: (matches, after = 0, ms = 20_000) =>
          Effect.map(
            poll(
              Effect.sync(() => frames.slice(after).find(matches)),
              (found) => found !== undefined,
              ms
            ),
            (found) => found
          )
      }
      socket.addEventListener("message", (event) => {
        frames.push(JSON.parse(String(event.data)) as Frame)
        if (!done) {
          done = true
          clearTimeout(timer)
          resume(Effect.succeed({ socket, events: eventsOf }))
        }
      })
      socket.addEventListener("error", () => {
        if (done) return
        done = true
        clearTimeout(timer)
        resume(Effect.fail(new Error("websocket error")))
      })
      return Effect.sync(() => socket.close())
    }),
    ({ socket }) => Effect.sync(() => socket.close())
  ).pipe(Effect.map(({ events }) => events))

// --- files ---------------------------------------------------------------------------------------

/** A fresh directory, removed with what is in it when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-inbox-test-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)
