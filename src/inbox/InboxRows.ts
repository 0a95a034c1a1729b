/**
 * The inbox's rows: what `SqlInbox` writes for a message and how a row becomes a `Stored`
 * message again.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { randomText } from "../internal/RandomText.js"
import * as InboxMessage from "./InboxMessage.js"

/**
 * The columns a message is read back from (all but the raw source).
 *
 * @since 0.2.0
 * @category constants
 */
export const summaryColumns = "id, created, read, size, parsed, text, envelope"

/**
 * What a list reads: the summary made on arrival, and the read status.
 *
 * @since 0.2.0
 * @category models
 */
export interface ListRow {
  readonly read: number
  readonly summary: string
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Row {
  readonly id: string
  readonly created: number
  readonly read: number
  readonly size: number
  readonly parsed: string
  /** The text part; "" in the rows of an older inbox, which keep it in `parsed`. */
  readonly text: string
  readonly envelope: string | null
}

// 22 characters of 57 (no 0/O, 1/l/I), as Mailpit's ids look
const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

/**
 * A new message id.
 *
 * @since 0.2.0
 * @category constructors
 */
export const newId = (): string => randomText(alphabet, 22)

// ",a,b," (",": none): a tag is matched whole with LIKE '%,tag,%'
const tagsColumn = (tags: ReadonlyArray<string>) =>
  `,${tags.map((t) => t.toLowerCase()).join(",")},`.replace(/^,,$/, ",")

const addresses = (list: ReadonlyArray<InboxMessage.Address>) =>
  list
    .map((a) => `${a.Name} <${a.Address}>`)
    .join(", ")
    .toLowerCase()

// The text is searched in its own column where SQLite's LIKE, which folds ASCII letters only,
// finds what a search of the lower-cased text would: where it is all ASCII. Another text goes
// lower-cased into text_l as well.
const ascii = /^[\x00-\x7f]*$/

// what text_l holds of the text: none where the text column answers; the snippet (made from
// the HTML) when there is no text
const searched = (text: string, snippet: string) => (text === "" ? snippet : ascii.test(text) ? "" : text)

/**
 * The row of a new message, and its summary: its seq (from `Retention`), the parse as JSON
 * (without the parts' bytes, which have their own rows, and without the text, which has its
 * column), and lower-cased text for search.
 *
 * @since 0.2.0
 * @category constructors
 */
export const rowOf = (
  seq: number,
  raw: Uint8Array,
  parsed: InboxMessage.Parsed,
  envelope: InboxMessage.Envelope | undefined
) => {
  const { contents: _, text, ...kept } = parsed
  const from = parsed.from === null ? "" : addresses([parsed.from])
  const id = newId()
  const created = Date.now()
  const summary = InboxMessage.summary({ id, created, read: false, size: raw.length, parsed, envelope })
  const row = {
    seq,
    id,
    created,
    read: 0,
    size: raw.length,
    attachments: parsed.attachments.length,
    inlines: parsed.inline.length,
    subject_l: parsed.subject.toLowerCase(),
    from_l: from,
    to_l: addresses(parsed.to),
    cc_l: addresses(parsed.cc),
    bcc_l: addresses(summary.Bcc),
    reply_to_l: addresses(parsed.replyTo),
    message_id_l: parsed.messageId.toLowerCase(),
    tags_l: tagsColumn(parsed.tags),
    text_l: [parsed.subject, from, addresses(parsed.to), addresses(parsed.cc), searched(text, summary.Snippet)]
      .join("\n")
      .toLowerCase(),
    summary: JSON.stringify(summary),
    parsed: JSON.stringify(kept),
    text,
    envelope: envelope === undefined ? null : JSON.stringify(envelope),
    raw
  }
  return { row, summary }
}

/**
 * The columns of a message whose tags are now `tags`, from its stored parse and summary.
 *
 * @since 0.2.0
 * @category constructors
 */
export const retagged = (row: { readonly parsed: string; readonly summary: string }, tags: ReadonlyArray<string>) => ({
  parsed: JSON.stringify({ ...(JSON.parse(row.parsed) as object), tags }),
  summary: JSON.stringify({ ...(JSON.parse(row.summary) as object), Tags: tags }),
  tags_l: tagsColumn(tags)
})

/**
 * A row read back.
 *
 * @since 0.2.0
 * @category constructors
 */
export const stored = (row: Row): InboxMessage.Stored => ({
  id: row.id,
  created: Number(row.created),
  read: Number(row.read) === 1,
  size: Number(row.size),
  parsed: {
    text: "",
    ...(JSON.parse(row.parsed) as Omit<InboxMessage.Parsed, "contents" | "text">),
    ...(row.text === "" ? {} : { text: row.text }),
    contents: new Map()
  },
  envelope: row.envelope === null ? undefined : (JSON.parse(row.envelope) as InboxMessage.Envelope)
})

/**
 * The summary of a list row.
 *
 * @since 0.2.0
 * @category constructors
 */
export const summaryOf = (row: ListRow): InboxMessage.Summary => ({
  ...(JSON.parse(row.summary) as InboxMessage.Summary),
  Read: Number(row.read) === 1
})

/**
 * Deletes messages and their parts.
 *
 * @since 0.2.0
 * @category constructors
 */
export const deleteIds = (sql: SqlClient.SqlClient, ids: ReadonlyArray<string>): Effect.Effect<void, SqlError> =>
  ids.length === 0
    ? Effect.void
    : Effect.all(
        [
          sql`DELETE FROM inbox_parts WHERE ${sql.in("message_id", ids)}`,
          sql`DELETE FROM inbox_messages WHERE ${sql.in("id", ids)}`
        ],
        { discard: true }
      )

/**
 * The seq of each message, oldest first, and whether it has parts: what `Retention` keeps.
 *
 * @since 0.3.0
 * @category constructors
 */
export const keptRows = (sql: SqlClient.SqlClient) =>
  sql<{ readonly seq: number; readonly parts: number }>`SELECT seq, attachments + inlines AS parts
    FROM inbox_messages ORDER BY seq ASC`

/**
 * Deletes the messages up to `seq` (the oldest: a rowid range), and their parts if any of them
 * had some; both statements have a fixed text (prepared once).
 *
 * @since 0.3.0
 * @category constructors
 */
export const deleteThrough = (sql: SqlClient.SqlClient, seq: number, parts: boolean): Effect.Effect<void, SqlError> =>
  Effect.andThen(
    parts
      ? sql`DELETE FROM inbox_parts WHERE message_id IN (SELECT id FROM inbox_messages
          WHERE seq <= ${seq} AND attachments + inlines > 0)`
      : Effect.void,
    sql`DELETE FROM inbox_messages WHERE seq <= ${seq}`
  )
