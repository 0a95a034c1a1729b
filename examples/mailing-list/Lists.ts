/**
 * The mailing lists, as a JSON file checked by a Schema before the server starts: a list domain
 * and its lists, each with a name, a one-line description and its members.
 *
 * ```json
 * { "domain": "lists.example",
 *   "lists": [{ "name": "dev", "description": "Development", "members": ["ann@a.example"], "membersOnly": true }] }
 * ```
 *
 * A list `dev` answers at `dev@` (posts), `dev-request@` (an automatic reply) and
 * `dev-bounces@` (where the members' bounces come back), so list names cannot end in
 * `-request` or `-bounces`. Names and addresses compare without regard to case.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as Address from "../../src/protocol/Address.js"

// RFC 5322 dot-atom with a conservative alphabet: safe in a local part and in a List-Id label (RFC 2919 §2)
const namePattern = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/
const reserved = /-(?:request|bounces)$/i

/**
 * A list name: the local part of the list's address.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Name = Schema.String.check(
  Schema.makeFilter((name) =>
    !namePattern.test(name)
      ? `not a list name: ${JSON.stringify(name)} (letters and digits, joined by single ".", "_" or "-")`
      : reserved.test(name)
        ? `a list name cannot end in -request or -bounces: ${JSON.stringify(name)}`
        : true
  )
).annotate({ identifier: "ListName" })

/**
 * An address, as the server checks RCPT TO (`local-part@domain`, RFC 5321 §4.1.2).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Mailbox = Schema.String.check(
  Schema.makeFilter((address) => Address.isMailbox(address) || `not an address: ${JSON.stringify(address)}`)
).annotate({ identifier: "Address" })

/**
 * The list domain: a host name, not an address literal.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Domain = Schema.String.check(
  Schema.makeFilter(
    (domain) => (!domain.startsWith("[") && Address.isDomain(domain)) || `not a domain: ${JSON.stringify(domain)}`
  )
).annotate({ identifier: "Domain" })

const lower = (text: string) => text.toLowerCase()

// an unknown key's message, naming the keys that are known
const unexpectedKey = (fields: object) =>
  `is unexpected, expected: ${Object.keys(fields)
    .map((key) => JSON.stringify(key))
    .join(" | ")}`

const listFields = {
  name: Name,
  // one line: it goes into the automatic reply's text
  description: Schema.String.check(
    Schema.makeFilter(
      (text) => (text.length <= 200 && !/[\r\n]/.test(text)) || "a description is one line of at most 200 characters"
    )
  ),
  members: Schema.Array(Mailbox)
    .check(
      Schema.makeFilter((members) => {
        if (members.length === 0) return "a list needs at least one member"
        const seen = new Set<string>()
        return members.flatMap((member, i): Array<Schema.FilterIssue> => {
          if (seen.has(lower(member))) return [{ path: [i], issue: `duplicate member: ${member}` }]
          seen.add(lower(member))
          return []
        })
      })
    )
    .annotate({ identifier: "Members" }),
  /** Only members may post (default false). */
  membersOnly: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(false)))
}

/**
 * One list.
 *
 * @since 0.1.0
 * @category schemas
 */
export const List = Schema.Struct(listFields).annotate({
  identifier: "List",
  messageUnexpectedKey: unexpectedKey(listFields)
})

/**
 * @since 0.1.0
 * @category models
 */
export type List = typeof List.Type

const listsFields = { domain: Domain, lists: Schema.Array(List) }

/**
 * The whole file. Unknown keys are errors, so that a misspelt `membersonly` is not silently
 * ignored; so are two lists with one name, and a member that is a list's own address (a loop).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Lists = Schema.Struct(listsFields)
  .annotate({ messageUnexpectedKey: unexpectedKey(listsFields) })
  .check(
    Schema.makeFilter(({ domain, lists }) => {
      const issues: Array<Schema.FilterIssue> = []
      const names = new Set<string>()
      const own = new Set(lists.flatMap((list) => addressesOf(domain, list.name).map(lower)))
      for (const [i, list] of lists.entries()) {
        if (names.has(lower(list.name))) {
          issues.push({ path: ["lists", i, "name"], issue: `duplicate list name: ${list.name}` })
        }
        names.add(lower(list.name))
        for (const [j, member] of list.members.entries()) {
          if (own.has(lower(member))) {
            issues.push({ path: ["lists", i, "members", j], issue: `a list address cannot be a member: ${member}` })
          }
        }
      }
      return issues
    })
  )
  .annotate({ identifier: "Lists" })

/**
 * @since 0.1.0
 * @category models
 */
export type Lists = typeof Lists.Type

/**
 * The addresses a list answers at: posts, the request address, the bounce address.
 *
 * @since 0.1.0
 * @category getters
 */
export const addressesOf = (domain: string, name: string) =>
  [`${name}@${domain}`, `${name}-request@${domain}`, `${name}-bounces@${domain}`] as const

/**
 * The file could not be read, or is not a valid lists file; `message` says where and why.
 *
 * @since 0.1.0
 * @category errors
 */
export class ListsError extends Schema.TaggedError<ListsError>()("ListsError", {
  path: Schema.String,
  message: Schema.String
}) {}

const decodeLists = Schema.decodeUnknownEffect(Lists, { errors: "all", onExcessProperty: "error" })

// JSON.parse's own message says where the text stops being JSON; Schema's parser drops it
const parseJson = (json: string, path: string) =>
  Effect.try({
    try: (): unknown => JSON.parse(json),
    catch: (error) => new ListsError({ path, message: `${path}: not valid JSON: ${String(error)}` })
  })

/**
 * Decodes the text of a lists file.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (json: string, path = "<input>"): Effect.Effect<Lists, ListsError> =>
  Effect.flatMap(parseJson(json, path), (value) =>
    Effect.mapError(decodeLists(value), (error) => new ListsError({ path, message: `${path}: ${error.message}` }))
  )

/**
 * Reads and decodes a lists file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (path: string): Effect.Effect<Lists, ListsError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const json = yield* Effect.mapError(
      fs.readFileString(path),
      (error) => new ListsError({ path, message: `${path}: ${error.message}` })
    )
    return yield* decode(json, path)
  })
