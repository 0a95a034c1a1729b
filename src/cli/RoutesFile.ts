/**
 * The `--routes FILE` of `effect-smtpd -c Router`: routes in JSON, checked by a Schema, with
 * errors that give the file's line. Each route sends its recipients to a sink, the debugging
 * print-out, a Maildir, or an upstream server:
 *
 * ```json
 * {
 *   "routes": [
 *     { "address": "postmaster@example.com", "deliver": "debug" },
 *     { "domain": "example.com", "deliver": { "maildir": "/var/mail/example" } },
 *     { "localPart": "^list-", "domain": "example.org", "deliver": { "relay": "lists.internal:25" } }
 *   ],
 *   "fallback": { "relay": "smtp.example.net:25", "mode": "spool" }
 * }
 * ```
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Address from "../protocol/Address.js"
import { parseAddress } from "../server/SmtpServer.js"
import { lineAt, lineOf } from "./JsonLocation.js"

const Mailbox = Schema.String.pipe(
  Schema.filter((s) => Address.isMailbox(s) || "expected a mail address (local@domain)")
)
const Domain = Schema.String.pipe(Schema.filter((s) => Address.isDomain(s) || "expected a domain name"))
const Pattern = Schema.String.pipe(
  Schema.filter((s) => {
    try {
      new RegExp(s)
      return true
    } catch {
      return "expected a regular expression"
    }
  })
)
const HostPort = Schema.String.pipe(Schema.filter((s) => parseAddress(s) !== undefined || "expected host:port"))

/**
 * Where a route's recipients go.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Deliver = Schema.Union(
  Schema.Literal("sink", "debug"),
  Schema.Struct({ maildir: Schema.NonEmptyString }),
  Schema.Struct({ relay: HostPort, mode: Schema.optional(Schema.Literal("forward", "spool")) })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Deliver = typeof Deliver.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const Route = Schema.Union(
  Schema.Struct({ address: Mailbox, deliver: Deliver }),
  Schema.Struct({ domain: Domain, deliver: Deliver }),
  Schema.Struct({ localPart: Pattern, domain: Schema.optional(Domain), deliver: Deliver })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Route = typeof Route.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const RoutesFile = Schema.Struct({ routes: Schema.Array(Route), fallback: Schema.optional(Deliver) })

/**
 * @since 0.1.0
 * @category models
 */
export type RoutesFile = typeof RoutesFile.Type

const decode = Schema.decodeUnknownEither(RoutesFile, { onExcessProperty: "error", errors: "all" })

// the deepest issue is the most precise one (a union reports one per member); at one depth a
// wrong value says more than an unexpected key, which says more than a missing one
const describe = (text: string, error: ParseResult.ParseError) => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const weight = { Missing: 0, Unexpected: 1 } as Record<string, number>
  const score = (issue: ParseResult.ArrayFormatterIssue) => issue.path.length * 3 + (weight[issue._tag] ?? 2)
  const issue = issues.reduce((best, next) => (score(next) > score(best) ? next : best))
  const where = issue.path.map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`)).join("")
  return `line ${lineOf(text, issue.path as ReadonlyArray<string | number>)}: ${where.replace(/^\./, "") || "the file"}: ${issue.message}`
}

/**
 * Decodes the text of a routes file, or says what is wrong and on which line.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parse = (text: string): Either.Either<RoutesFile, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const position = /position (\d+)/.exec(message)
    return Either.left(`${position ? `line ${lineAt(text, Number(position[1]))}: ` : ""}not JSON: ${message}`)
  }
  return Either.mapLeft(decode(json), (error) => describe(text, error))
}

/**
 * Reads and decodes a routes file; the error names the file and the line.
 *
 * @since 0.1.0
 * @category decoding
 */
export const load = (path: string): Effect.Effect<RoutesFile, string, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(path).pipe(
      Effect.mapError((error) => `${path}: ${error.message}`),
      Effect.flatMap((text) => Either.mapLeft(parse(text), (message) => `${path} ${message}`))
    )
  )
