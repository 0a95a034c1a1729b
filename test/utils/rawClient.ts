// A raw SMTP client over node:net, for tests that drive the server byte by byte.
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

export interface RawClient {
  /** Writes text as is (latin1). */
  readonly write: (data: string) => Effect.Effect<void>
  /** One whole reply (up to the line whose code is followed by a space), as its lines without CRLF;
   * fails if the connection closes first or nothing comes within 10 s. */
  readonly reply: Effect.Effect<ReadonlyArray<string>, Error>
  /** The last line of the next reply. */
  readonly status: Effect.Effect<string, Error>
  /** Waits until the server has closed the connection. */
  readonly closed: Effect.Effect<void>
  /** What came and was not read as a reply. */
  readonly unread: () => string
}

/** Connects to host:port; the socket is destroyed when the scope closes. */
export const connect = (host: string, port: number): Effect.Effect<RawClient, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host, port }, () => resume(Effect.succeed(socket)))
      socket.once("error", (error) => resume(Effect.fail(error)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(
    Effect.map((socket) => {
      let buffer = ""
      let closed = false
      const waiters: Array<() => void> = []
      const wake = () => waiters.splice(0).forEach((waiter) => waiter())
      socket.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("latin1")
        wake()
      })
      socket.on("close", () => {
        closed = true
        wake()
      })
      socket.on("error", () => {})
      const reply = Effect.callback<ReadonlyArray<string>, Error>((resume) => {
        const check = () => {
          const match = /^(?:\d{3}-[^\n]*\n)*\d{3} [^\n]*\n/.exec(buffer)
          if (match !== null) {
            buffer = buffer.slice(match[0].length)
            resume(Effect.succeed(match[0].split("\r\n").slice(0, -1)))
          } else if (closed) resume(Effect.fail(new Error(`connection closed; unread: ${JSON.stringify(buffer)}`)))
          else waiters.push(check)
        }
        check()
      }).pipe(
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.fail(new Error("no reply within 10 s")) })
      )
      return {
        write: (data: string) => Effect.sync(() => void socket.write(data, "latin1")),
        reply,
        status: Effect.map(reply, (lines) => lines.at(-1)!),
        closed: Effect.callback<void>((resume) => {
          if (closed) return resume(Effect.void)
          socket.once("close", () => resume(Effect.void))
        }),
        unread: () => buffer
      }
    })
  )

/**
 * One transaction on a new connection: EHLO, AUTH PLAIN when `auth` is given, MAIL, RCPT and,
 * with `data`, the message; the last line of each reply after EHLO's, in order. Stops at the
 * first reply that refuses MAIL or the recipient (no DATA after it).
 */
export const transaction = (
  port: number,
  options: {
    readonly auth?: { readonly user: string; readonly password: string } | undefined
    readonly from?: string
    readonly to?: string
    readonly data?: string | undefined
  } = {}
): Effect.Effect<ReadonlyArray<string>, Error> =>
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* connect("127.0.0.1", port)
      yield* client.status
      yield* client.write("EHLO client.example\r\n")
      yield* client.reply
      const said: Array<string> = []
      const step = (line: string) =>
        Effect.flatMap(client.write(`${line}\r\n`), () => Effect.map(client.status, (status) => void said.push(status)))
      if (options.auth !== undefined) {
        yield* step(`AUTH PLAIN ${Buffer.from(`\0${options.auth.user}\0${options.auth.password}`).toString("base64")}`)
      }
      yield* step(`MAIL FROM:<${options.from ?? "app@example.com"}>`)
      yield* step(`RCPT TO:<${options.to ?? "ann@example.net"}>`)
      if (options.data !== undefined && said.at(-1)!.startsWith("250") && said.at(-2)!.startsWith("250")) {
        yield* step("DATA")
        yield* step(`${options.data}.`)
      }
      yield* client.write("QUIT\r\n")
      return said
    })
  )

/** A file of AUTH users (`user:password` lines) in a temp directory, removed with the scope. */
export const usersFile = (lines: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-users-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(
    Effect.map((dir) => {
      Fs.writeFileSync(Path.join(dir, "users"), lines)
      return Path.join(dir, "users")
    })
  )
