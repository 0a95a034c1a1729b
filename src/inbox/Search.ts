/**
 * Mailpit's search syntax, parsed: words and "quoted phrases" match anywhere in a message
 * (its subject, addresses and text); `from:`, `to:`, `cc:`, `bcc:`, `reply-to:`, `addressed:`
 * (from, to, cc, bcc or reply-to), `subject:`, `message-id:` and `tag:` match one field;
 * `is:read`, `is:unread`, `is:tagged`, `has:attachment`, `has:inline`, `before:` and `after:`
 * (a date), `larger:` and `smaller:` (bytes, `10k`, `1.5m`) filter; a leading `-` or `!` negates a
 * term. Matching ignores case.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 * @category models
 */
export type Field = "text" | "from" | "to" | "cc" | "bcc" | "reply-to" | "addressed" | "subject" | "message-id" | "tag"

/**
 * One term of a query.
 *
 * @since 0.2.0
 * @category models
 */
export type Term =
  | { readonly _tag: "Contains"; readonly field: Field; readonly value: string; readonly negated: boolean }
  | { readonly _tag: "Read"; readonly read: boolean; readonly negated: boolean }
  | { readonly _tag: "HasAttachment"; readonly negated: boolean }
  | { readonly _tag: "HasInline"; readonly negated: boolean }
  | { readonly _tag: "Tagged"; readonly negated: boolean }
  | { readonly _tag: "Size"; readonly larger: boolean; readonly bytes: number; readonly negated: boolean }
  | { readonly _tag: "Date"; readonly before: boolean; readonly at: number; readonly negated: boolean }

const fields: ReadonlySet<string> = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "reply-to",
  "addressed",
  "subject",
  "message-id",
  "tag"
])

// the query's tokens: runs of non-space, where a double-quoted part may hold spaces
const tokens = (query: string): Array<string> => {
  const out: Array<string> = []
  let current = ""
  let quoted = false
  let started = false
  for (const char of query) {
    if (char === '"') {
      quoted = !quoted
      started = true
    } else if (!quoted && /\s/.test(char)) {
      if (started) out.push(current)
      current = ""
      started = false
    } else {
      current += char
      started = true
    }
  }
  if (started) out.push(current)
  return out
}

// `utc` (a wall-clock time written as if in UTC) less the offset of `timeZone` then
const offsetMs = (timeZone: string, utc: number): number => {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric"
  }).formatToParts(utc)
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0)
  const wall = Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"), part("minute"), part("second"))
  return wall - Math.floor(utc / 1000) * 1000
}

const wallClock = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/

// a date as Mailpit takes it (2024-01-31, or anything Date parses); a date or date and time
// without a zone is in `timeZone` when one is given (Mailpit's `tz`); undefined when it is none
const dateOf = (value: string, timeZone: string | undefined): number | undefined => {
  const wall = timeZone === undefined ? null : wallClock.exec(value)
  if (wall !== null && timeZone !== undefined) {
    const [y, mo, d, h, mi, se] = wall.slice(1).map((part) => (part === undefined ? 0 : Number(part)))
    const utc = Date.UTC(y!, mo! - 1, d!, h!, mi!, se!)
    // the zone's offset at that moment (twice: the first guess may sit across a DST change)
    const first = utc - offsetMs(timeZone, utc)
    return utc - offsetMs(timeZone, first)
  }
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : at
}

/**
 * Is `timeZone` an IANA time zone this runtime knows (`Pacific/Auckland`, `UTC`)?
 *
 * @since 0.2.0
 * @category predicates
 */
export const isTimeZone = (timeZone: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone })
    return true
  } catch {
    return false
  }
}

// 1024, 10k, 10kb, 1.5m, 2MB -> bytes
const sizeOf = (value: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)(k|kb|m|mb)?$/i.exec(value.trim())
  if (match === null) return undefined
  const unit = (match[2] ?? "").toLowerCase()
  return Math.round(Number(match[1]) * (unit.startsWith("m") ? 1024 * 1024 : unit.startsWith("k") ? 1024 : 1))
}

const termOf = (token: string, timeZone: string | undefined): Term | undefined => {
  const negated = token.length > 1 && (token.startsWith("-") || token.startsWith("!"))
  const body = negated ? token.slice(1) : token
  const colon = body.indexOf(":")
  const name = colon > 0 ? body.slice(0, colon).toLowerCase() : ""
  const value = colon > 0 ? body.slice(colon + 1) : body
  if (name === "is" && (value.toLowerCase() === "read" || value.toLowerCase() === "unread")) {
    return { _tag: "Read", read: value.toLowerCase() === "read", negated }
  }
  if (name === "has" && value.toLowerCase().startsWith("attachment")) return { _tag: "HasAttachment", negated }
  if (name === "has" && value.toLowerCase().startsWith("inline")) return { _tag: "HasInline", negated }
  if (name === "is" && value.toLowerCase() === "tagged") return { _tag: "Tagged", negated }
  if (name === "larger" || name === "smaller") {
    const bytes = sizeOf(value)
    return bytes === undefined ? undefined : { _tag: "Size", larger: name === "larger", bytes, negated }
  }
  if (name === "before" || name === "after") {
    const at = dateOf(value, timeZone)
    return at === undefined ? undefined : { _tag: "Date", before: name === "before", at, negated }
  }
  if (fields.has(name)) {
    return value === "" ? undefined : { _tag: "Contains", field: name as Field, value: value.toLowerCase(), negated }
  }
  // as Mailpit: a term without a letter or digit is no term
  return /[\p{L}\p{N}]/u.test(body)
    ? { _tag: "Contains", field: "text", value: body.toLowerCase(), negated }
    : undefined
}

/**
 * The terms of `query`; all must hold. Terms that mean nothing (an empty `from:`, a date that
 * is none) are left out. Dates without a zone are in `timeZone` when given (an IANA name).
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (query: string, timeZone?: string | undefined): ReadonlyArray<Term> =>
  tokens(query).flatMap((token) => {
    const term = termOf(token, timeZone)
    return term === undefined ? [] : [term]
  })
