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

// a date as Mailpit takes it (2024-01-31, or anything Date parses); undefined when it is none
const dateOf = (value: string): number | undefined => {
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : at
}

// 1024, 10k, 10kb, 1.5m, 2MB -> bytes
const sizeOf = (value: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)(k|kb|m|mb)?$/i.exec(value.trim())
  if (match === null) return undefined
  const unit = (match[2] ?? "").toLowerCase()
  return Math.round(Number(match[1]) * (unit.startsWith("m") ? 1024 * 1024 : unit.startsWith("k") ? 1024 : 1))
}

const termOf = (token: string): Term | undefined => {
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
    const at = dateOf(value)
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
 * is none) are left out.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (query: string): ReadonlyArray<Term> =>
  tokens(query).flatMap((token) => {
    const term = termOf(token)
    return term === undefined ? [] : [term]
  })
