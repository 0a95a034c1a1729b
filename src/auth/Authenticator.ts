/**
 * Who may AUTH: the `Authenticator` service checks the credentials a SASL exchange produced
 * and names the identity. Provide one and the server offers AUTH.
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { SessionInfo } from "../handler/SessionInfo.js"
import type * as Sasl from "../protocol/Sasl.js"
import type * as SmtpError from "../protocol/SmtpError.js"
import * as Passwords from "./Passwords.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The mechanisms it can check, in the order offered (CRAM-MD5 only if it knows passwords). */
  readonly mechanisms: ReadonlyArray<Sasl.Mechanism>
  /**
   * The authenticated identity, or none when the credentials are wrong; or a failure with the
   * reply to give instead (a temporary failure, say), not counted as a failed attempt.
   */
  readonly authenticate: (
    credentials: Sasl.Credentials,
    session: SessionInfo
  ) => Effect.Effect<Option.Option<string>, SmtpError.SmtpError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Authenticator extends Context.Service<Authenticator, Service>()("effect-smtpd/Authenticator") {}

/**
 * How `make` checks credentials. Each function given enables mechanisms:
 *
 * - `verifyPassword` or `passwordOf`: PLAIN and LOGIN;
 * - `passwordOf`: CRAM-MD5 too (it needs the plaintext password to compute the digest);
 * - `verifyToken`: XOAUTH2.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Is this the user's password? Preferred over `passwordOf` for PLAIN and LOGIN. */
  readonly verifyPassword?:
    ((user: string, password: string, session: SessionInfo) => Effect.Effect<boolean>) | undefined
  /**
   * The user's plaintext password, none for an unknown user. PLAIN and LOGIN also accept a
   * `Passwords.hash` here (CRAM-MD5 then fails for that user).
   */
  readonly passwordOf?: ((user: string) => Effect.Effect<Option.Option<string>>) | undefined
  /** Is this OAuth 2.0 bearer token valid for the user (XOAUTH2)? */
  readonly verifyToken?: ((user: string, token: string, session: SessionInfo) => Effect.Effect<boolean>) | undefined
}

// Compared against when a user is unknown, so that an unknown user costs what a known one
// does and the time of a refusal does not tell which users exist. Their passwords are
// random and thrown away: nothing matches them, and the result is ignored anyway.
const decoyPlaintext = "6f2c1e0b9a8d4c3f7e5a1b2c3d4e5f60"
const decoyHash = "scrypt$16384$8$1$5omGAJeF0UYm79aAEt0dFA==$IN/bcWKXPdGOSIdVmgc+cWG0XKkIul8R8IcOEHx5Eo0="

const refuse = Effect.succeed(false)

/**
 * An authenticator from functions (see `Options`). Mechanisms are offered in the order PLAIN,
 * LOGIN, CRAM-MD5, XOAUTH2. A PLAIN authorization identity other than the user is refused:
 * acting for someone else needs a policy this constructor does not have.
 *
 * With `passwordOf`, an unknown user is checked against a decoy plaintext password, so the
 * refusal takes as long as a wrong password; `verifyPassword` and `verifyToken` must see to
 * that themselves.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Service => {
  const { passwordOf, verifyPassword, verifyToken } = options
  const mechanisms: Array<Sasl.Mechanism> = []
  if (verifyPassword !== undefined || passwordOf !== undefined) mechanisms.push("PLAIN", "LOGIN")
  if (passwordOf !== undefined) mechanisms.push("CRAM-MD5")
  if (verifyToken !== undefined) mechanisms.push("XOAUTH2")

  const checkPassword = (user: string, password: string, session: SessionInfo): Effect.Effect<boolean> => {
    if (verifyPassword !== undefined) return verifyPassword(user, password, session)
    if (passwordOf === undefined) return refuse
    return Effect.flatMap(
      passwordOf(user),
      Option.match({
        onNone: () => Effect.as(Passwords.verify(password, decoyPlaintext), false),
        onSome: (stored) => Passwords.verify(password, stored)
      })
    )
  }

  const checkCramMd5 = (user: string, challenge: string, digest: string): Effect.Effect<boolean> => {
    if (passwordOf === undefined) return refuse
    return Effect.flatMap(passwordOf(user), (stored) =>
      // a hash cannot give the HMAC key; the decoy keeps the time the same
      Option.isSome(stored) && !Passwords.looksLikeHash(stored.value)
        ? Passwords.verifyCramMd5(stored.value, challenge, digest)
        : Effect.as(Passwords.verifyCramMd5(decoyPlaintext, challenge, digest), false)
    )
  }

  const check = (credentials: Sasl.Credentials, session: SessionInfo): Effect.Effect<boolean> => {
    switch (credentials._tag) {
      case "Password":
        // RFC 4616 §2: the server decides whether the authcid may act as the authzid; here never
        if (credentials.authorizationId !== undefined && credentials.authorizationId !== credentials.user) return refuse
        return checkPassword(credentials.user, credentials.password, session)
      case "CramMd5":
        return checkCramMd5(credentials.user, credentials.challenge, credentials.digest)
      case "OAuth2":
        return verifyToken === undefined ? refuse : verifyToken(credentials.user, credentials.token, session)
    }
  }

  return Authenticator.of({
    mechanisms,
    authenticate: (credentials, session) =>
      Effect.map(check(credentials, session), (ok) => (ok ? Option.some(credentials.user) : Option.none()))
  })
}

// Users compared case-sensitively, as the map holds them. Stored values may be plaintext or
// `Passwords.hash` output; CRAM-MD5 is offered only when every one is plaintext.
const fromEntries = (users: ReadonlyMap<string, string>): Service => {
  const hashed = [...users.values()].some(Passwords.looksLikeHash)
  // an unknown user costs what a known one does: a scrypt when hashes are in use
  const decoy = hashed ? decoyHash : decoyPlaintext
  return make({
    verifyPassword: (user, password) => {
      const stored = users.get(user)
      return Effect.map(Passwords.verify(password, stored ?? decoy), (ok) => ok && stored !== undefined)
    },
    passwordOf: hashed ? undefined : (user) => Effect.succeed(Option.fromNullishOr(users.get(user)))
  })
}

/**
 * A fixed set of users and their passwords (plaintext, or `Passwords.hash` output), offering
 * PLAIN, LOGIN and — when every password is plaintext — CRAM-MD5. For tests and small setups.
 *
 * @since 0.1.0
 * @category layers
 */
export const fromUsers = (users: Readonly<Record<string, string>>): Layer.Layer<Authenticator> =>
  Layer.succeed(Authenticator, fromEntries(new Map(Object.entries(users))))

/**
 * A users file could not be read or has a bad line. The message names the file and the line,
 * never the line's text: it may hold a password. A start-up error, no reply.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthFileError extends Schema.TaggedError<AuthFileError>()("AuthFileError", {
  path: Schema.String,
  line: Schema.optional(Schema.Number),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

const parseUsers = (path: string, text: string) =>
  Effect.gen(function* () {
    const users = new Map<string, string>()
    const firstLine = new Map<string, number>()
    const lines = text.split("\n")
    for (let i = 0; i < lines.length; i++) {
      const number = i + 1
      const line = (lines[i] ?? "").replace(/\r$/, "")
      const bad = (problem: string) =>
        new AuthFileError({ path, line: number, message: `${path}:${number}: ${problem}` })
      if (line.trim() === "" || line.trimStart().startsWith("#")) continue
      const colon = line.indexOf(":")
      if (colon <= 0 || colon === line.length - 1) return yield* bad("expected user:password")
      const user = line.slice(0, colon)
      // everything after the first colon, spaces included: a password may hold ":" or spaces
      const password = line.slice(colon + 1)
      if (user.trim() !== user) return yield* bad("the user name starts or ends with white space")
      // a damaged hash taken as plaintext would let the hash text itself log in
      if (Passwords.looksLikeHash(password) && !Passwords.isHash(password)) return yield* bad("malformed scrypt hash")
      const first = firstLine.get(user)
      if (first !== undefined) return yield* bad(`duplicate user ${JSON.stringify(user)} (first on line ${first})`)
      users.set(user, password)
      firstLine.set(user, number)
    }
    return users
  })

/**
 * Users from a file, read once when the layer is built. One user a line, `user:password`,
 * the password plaintext or a `Passwords.hash` (`effect-smtpd hash-password` makes one):
 *
 * ```text
 * # comments and blank lines are skipped
 * alice:correct horse battery staple
 * bob:scrypt$16384$8$1$…$…
 * ```
 *
 * The user is what precedes the first colon (case-sensitive), the password all that follows,
 * spaces included. CRAM-MD5 is offered only when every password is plaintext. A line without
 * a colon, an empty user or password, a damaged hash or a user named twice fails the layer
 * with `AuthFileError`.
 *
 * @since 0.1.0
 * @category layers
 */
export const fromFile = (path: string): Layer.Layer<Authenticator, AuthFileError, FileSystem.FileSystem> =>
  Layer.effect(
    Authenticator,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs
        .readFileString(path)
        .pipe(Effect.mapError((cause) => new AuthFileError({ path, message: `cannot read ${path}`, cause })))
      return fromEntries(yield* parseUsers(path, text))
    })
  )

/**
 * `fromFile` on Node's file system.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileNode = (path: string): Layer.Layer<Authenticator, AuthFileError> =>
  fromFile(path).pipe(Layer.provide(NodeFileSystem.layer))
