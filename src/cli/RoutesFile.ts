/**
 * The `--routes FILE` of `effect-smtpd -c Router`: routes in JSON, checked by a Schema, with
 * errors that give the file's line. Each route sends its recipients to a sink, the debugging
 * print-out, a Maildir, or an upstream server (`"mode": "forward"`, the default, or `"queue"`:
 * through the mail queue, `--queue`):
 *
 * ```json
 * {
 *   "routes": [
 *     { "address": "postmaster@example.com", "deliver": "debug" },
 *     { "domain": "example.com", "deliver": { "maildir": "/var/mail/example" } },
 *     { "localPart": "^list-", "domain": "example.org", "deliver": { "relay": "lists.internal:25" } }
 *   ],
 *   "fallback": { "relay": "smtp.example.net:25", "mode": "queue" }
 * }
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as Address from "../protocol/Address.js"
import { lineAt, lineOf } from "./JsonLocation.js"
import { spoolGone } from "./Options.js"
import * as UpstreamAddress from "./UpstreamAddress.js"

const Mailbox = Schema.String.check(
  Schema.makeFilter((s) => Address.isMailbox(s) || "expected a mail address (local@domain)")
)
const Domain = Schema.String.check(Schema.makeFilter((s) => Address.isDomain(s) || "expected a domain name"))
const Pattern = Schema.String.check(
  Schema.makeFilter((s) => {
    try {
      new RegExp(s)
      return true
    } catch {
      return "expected a regular expression"
    }
  })
)
const Upstream = Schema.String.check(
  Schema.makeFilter((s) => UpstreamAddress.parse(s) !== undefined || `expected ${UpstreamAddress.expected}`)
)

// "spool" is named so that an old file is told what replaced it, not only what is expected
const Mode = Schema.Literals(["forward", "queue", "spool"]).pipe(
  Schema.refine((mode): mode is "forward" | "queue" => mode !== "spool", {
    message: spoolGone('"mode": "spool"', '"mode": "queue"')
  })
)

/**
 * Where a route's recipients go.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Deliver = Schema.Union([
  Schema.Literals(["sink", "debug"]),
  Schema.Struct({ maildir: Schema.NonEmptyString }),
  Schema.Struct({ relay: Upstream, mode: Schema.optional(Mode) })
])

/**
 * @since 0.1.0
 * @category models
 */
export type Deliver = typeof Deliver.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const Route = Schema.Union([
  Schema.Struct({ address: Mailbox, deliver: Deliver }),
  Schema.Struct({ domain: Domain, deliver: Deliver }),
  Schema.Struct({ localPart: Pattern, domain: Schema.optional(Domain), deliver: Deliver })
])

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

const decode = Schema.decodeUnknownResult(RoutesFile, { onExcessProperty: "error", errors: "all" })

interface Leaf {
  readonly path: ReadonlyArray<PropertyKey>
  readonly issue: SchemaIssue.Issue
}

// every failure in the tree with its path (a union reports one per member)
const leaves = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey> = []): Array<Leaf> => {
  switch (issue._tag) {
    case "Pointer":
      return leaves(issue.issue, [...path, ...issue.path])
    case "Encoding":
      return leaves(issue.issue, path)
    case "Composite":
    case "AnyOf":
      if (issue.issues.length > 0) return issue.issues.flatMap((inner) => leaves(inner, path))
      return [{ path, issue }]
    default:
      return [{ path, issue }]
  }
}

const format = SchemaIssue.makeFormatterStandardSchemaV1()

// the deepest issue is the most precise one; at one depth a wrong value says more than an
// unexpected key, which says more than a missing one
const describe = (text: string, error: Schema.SchemaError) => {
  const weight: Partial<Record<SchemaIssue.Issue["_tag"], number>> = { MissingKey: 0, UnexpectedKey: 1 }
  const score = (leaf: Leaf) => leaf.path.length * 3 + (weight[leaf.issue._tag] ?? 2)
  const leaf = leaves(error.issue).reduce((best, next) => (score(next) > score(best) ? next : best))
  const message = format(leaf.issue).issues[0]?.message ?? String(leaf.issue)
  const where = leaf.path.map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`)).join("")
  return `line ${lineOf(text, leaf.path as ReadonlyArray<string | number>)}: ${where.replace(/^\./, "") || "the file"}: ${message}`
}

/**
 * Decodes the text of a routes file, or says what is wrong and on which line.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parse = (text: string): Result.Result<RoutesFile, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const position = /position (\d+)/.exec(message)
    return Result.fail(`${position ? `line ${lineAt(text, Number(position[1]))}: ` : ""}not JSON: ${message}`)
  }
  return Result.mapError(decode(json), (error) => describe(text, error))
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
      Effect.flatMap((text) => Effect.fromResult(Result.mapError(parse(text), (message) => `${path} ${message}`)))
    )
  )

/**
 * The relays a routes file names, its routes' and its fallback's, in order.
 *
 * @since 0.2.0
 * @category getters
 */
export const relays = (file: RoutesFile): ReadonlyArray<Extract<Deliver, { readonly relay: string }>> =>
  [...file.routes.map((route) => route.deliver), ...(file.fallback === undefined ? [] : [file.fallback])].flatMap(
    (deliver) => (typeof deliver === "object" && "relay" in deliver ? [deliver] : [])
  )
