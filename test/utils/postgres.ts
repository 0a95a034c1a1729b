// A throw-away PostgreSQL server for the SQL mail queue's tests (issue 15).
//
// `postgres()` runs initdb in a fresh temporary directory (trust authentication, no fsync), starts
// the server with pg_ctl on a free port of 127.0.0.1 (its Unix socket in the same directory) and
// creates the database; when the scope closes the server is killed and the directory removed.
// About 0.7 s in all (initdb 0.5 s, start 0.1 s, createdb 0.05 s); the data directory takes 40 MB.
// `stop` / `start` kill and restart the server on the same port and data: a crash mid-load.
// A server whose process was killed before its scope closed stays up; the one left by a scope that
// closed without stopping it shuts itself down within a minute of its directory's removal (postgres
// checks its lock file every minute).
//
// initdb and postgres refuse to run as root: as root they run as Debian's `postgres` user (spawned
// with its uid and gid, the directory handed to it); as anyone else, as that user.
// The programs come from Debian's postgresql package (Tools.postgresBin); tests that need them are
// `describe.skipIf(skipWithout("postgres"))`.
import * as PgClient from "@effect/sql-pg/PgClient"
import { Context, Data, Effect, Layer, Redacted } from "effect"
import type { Scope } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tools from "./tools.js"

/** The server could not be set up, started or stopped. */
export class PostgresError extends Data.TaggedError("PostgresError")<{ readonly message: string }> {}

export interface Postgres {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
  /** `postgres://user@127.0.0.1:port/database`, for `PgClient.layer({ url })`. */
  readonly url: string
  /**
   * Kills the server (`pg_ctl -m immediate`: no checkpoint, open connections cut): a crash.
   * Committed transactions survive it (fsync is off, but the WAL of a commit reached the kernel).
   * Does nothing when the server is stopped.
   */
  readonly stop: Effect.Effect<void, PostgresError>
  /** Starts the server again on the same port and data (recovering from the WAL after `stop`). */
  readonly start: Effect.Effect<void, PostgresError>
  /** The server's log so far, for failure messages. */
  readonly log: () => string
}

export interface PostgresOptions {
  /** The database to create (default "smtpd"). */
  readonly database?: string | undefined
}

const superuser = "postgres"

// who runs the programs: as root, the unprivileged `postgres` user (from /etc/passwd)
const owner = (): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const line = Fs.readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith(`${superuser}:`))
  const [, , uid, gid] = line?.split(":") ?? []
  if (uid === undefined || gid === undefined) {
    throw new PostgresError({
      message: `running as root, and PostgreSQL refuses root: no user "${superuser}" to run it as (${Tools.installHint("postgres")} creates it)`
    })
  }
  return { uid: Number(uid), gid: Number(gid) }
}

// the caller's PG* variables (PGDATA, PGHOST, PGOPTIONS, …) must not steer the programs
const cleanEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PG"))) as NodeJS.ProcessEnv

interface Setup {
  readonly bin: string
  readonly dir: string
  readonly user: { readonly uid: number; readonly gid: number } | undefined
}

// runs a program of PostgreSQL's asynchronously (the code under test runs in this process); its
// output, or a failure with it and `why`
const run = (setup: Setup, program: string, args: ReadonlyArray<string>, why: () => string = () => "") =>
  Effect.callback<string, PostgresError>((resume) => {
    const child = ChildProcess.spawn(Path.join(setup.bin, program), [...args], {
      cwd: setup.dir,
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      ...(setup.user === undefined ? {} : setup.user)
    })
    let output = ""
    const collect = (chunk: Buffer) => {
      output += chunk.toString("utf8")
    }
    child.stdout.on("data", collect)
    child.stderr.on("data", collect)
    child.once("error", (error) =>
      resume(Effect.fail(new PostgresError({ message: `${program} could not run: ${error.message}` })))
    )
    child.once("close", (code, signal) =>
      resume(
        code === 0
          ? Effect.succeed(output)
          : Effect.fail(
              new PostgresError({
                message: `${program} ${args.join(" ")} exited ${code ?? signal}\n${output}${why()}`
              })
            )
      )
    )
  })

// a port nobody listens on now (bound to port 0 and released): a later listener may take it, rarely
const freePort = Effect.callback<number, PostgresError>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) =>
    resume(Effect.fail(new PostgresError({ message: `no free port on 127.0.0.1: ${error.message}` })))
  )
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

// a directory the server's user owns, removed with everything in it when the scope closes
const tempDir = (user: Setup["user"]) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-pg-"))
      if (user !== undefined) Fs.chownSync(dir, user.uid, user.gid)
      return dir
    }),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const readLog = (file: string) => {
  try {
    return Fs.readFileSync(file, "utf8")
  } catch {
    return ""
  }
}

// fsync and full-page writes only protect against an OS crash, which a test never has. The commit
// still writes its WAL to the kernel (synchronous_commit stays on), so `stop` loses no commit.
const serverOptions = (dir: string, port: number) =>
  `-p ${port} -k '${dir}' -h 127.0.0.1 -c fsync=off -c full_page_writes=off -c shared_buffers=16MB`

const initdb = (setup: Setup, data: string) =>
  run(setup, "initdb", [
    "-D",
    data,
    "-U",
    superuser,
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions"
  ])

/** A throw-away PostgreSQL server with one database, killed and deleted when the scope closes. */
export const postgres = (options: PostgresOptions = {}): Effect.Effect<Postgres, PostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const bin = Tools.postgresBin()
    if (bin === undefined) {
      return yield* new PostgresError({ message: `PostgreSQL is not installed: ${Tools.installHint("postgres")}` })
    }
    const user = yield* Effect.try({
      try: owner,
      catch: (error) => (error instanceof PostgresError ? error : new PostgresError({ message: String(error) }))
    })
    const dir = yield* tempDir(user)
    const setup: Setup = { bin, dir, user }
    const data = Path.join(dir, "data")
    const logFile = Path.join(dir, "postgres.log")
    const log = () => readLog(logFile)
    yield* initdb(setup, data)

    let port = 0
    let running = false
    const start = Effect.suspend(() =>
      running
        ? Effect.void
        : run(
            setup,
            "pg_ctl",
            ["-D", data, "-o", serverOptions(dir, port), "-l", logFile, "-t", "30", "-w", "start"],
            () => `\nlog:\n${log()}`
          ).pipe(Effect.tap(() => Effect.sync(() => (running = true))))
    )
    const stop = Effect.suspend(() =>
      running
        ? run(setup, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).pipe(
            Effect.tap(() => Effect.sync(() => (running = false)))
          )
        : Effect.void
    )
    yield* Effect.addFinalizer(() => stop.pipe(Effect.ignore))

    // another listener may take the free port before the server binds it: try a few
    const startOnFreePort = Effect.gen(function* () {
      port = yield* freePort
      yield* start
    })
    yield* startOnFreePort.pipe(
      Effect.retry({ times: 2, while: (error) => /could not bind|in use/i.test(error.message) })
    )

    const database = options.database ?? "smtpd"
    yield* run(setup, "createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", superuser, database])
    return {
      host: "127.0.0.1",
      port,
      user: superuser,
      database,
      url: `postgres://${superuser}@127.0.0.1:${port}/${database}`,
      stop,
      start,
      log
    }
  })

/**
 * An `@effect/sql-pg` client of `pg` (a pool), for `Effect.provide`. `options` go to
 * `PgClient.layer`, e.g. `{ maxConnections: 2, connectTimeout: "1 second" }`.
 */
export const clientLayer = (
  pg: Postgres,
  options: Omit<PgClient.PgPoolConfig, "url"> = {}
): Layer.Layer<PgClient.PgClient | SqlClient, SqlError> => PgClient.layer({ ...options, url: Redacted.make(pg.url) })

/** The server of `layer`, for a test to stop and start it. */
export class TestPostgres extends Context.Service<TestPostgres, Postgres>()("effect-smtpd/test/TestPostgres") {}

/**
 * One server for a whole `layer(...)` block of @effect/vitest, with a client of it: `TestPostgres`
 * (to stop and start the server), `PgClient` and `SqlClient`.
 */
export const layer = (
  options: PostgresOptions & { readonly client?: Omit<PgClient.PgPoolConfig, "url"> | undefined } = {}
): Layer.Layer<TestPostgres | PgClient.PgClient | SqlClient, PostgresError | SqlError> =>
  Layer.unwrap(
    Effect.map(postgres(options), (pg) =>
      Layer.merge(Layer.succeed(TestPostgres, pg), clientLayer(pg, options.client ?? {}))
    )
  )
