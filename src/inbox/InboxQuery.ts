/**
 * Mailpit's search terms (`Search`) as a WHERE clause on the inbox's table.
 *
 * @since 0.2.0
 */
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Statement from "effect/sql/Statement"
import type * as Inbox from "./Inbox.js"
import * as Search from "./Search.js"

const columns: Record<Search.Field, ReadonlyArray<string>> = {
  // `text` is searched as it is where it is all ASCII (InboxRows says why), text_l otherwise
  text: ["text_l", "text", "bcc_l", "reply_to_l"],
  from: ["from_l"],
  to: ["to_l"],
  cc: ["cc_l"],
  bcc: ["bcc_l"],
  "reply-to": ["reply_to_l"],
  addressed: ["from_l", "to_l", "cc_l", "bcc_l", "reply_to_l"],
  subject: ["subject_l"],
  "message-id": ["message_id_l"],
  tag: ["tags_l"]
}

// LIKE's wildcards taken literally
const escape = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`)

const condition = (sql: SqlClient.SqlClient, term: Search.Term): Statement.Fragment => {
  switch (term._tag) {
    case "Read":
      return sql`read = ${term.read ? 1 : 0}`
    case "HasAttachment":
      return sql`attachments > 0`
    case "HasInline":
      return sql`inlines > 0`
    case "Tagged":
      return sql`tags_l <> ','`
    case "Size":
      return term.larger ? sql`size > ${term.bytes}` : sql`size < ${term.bytes}`
    case "Date":
      return term.before ? sql`created < ${term.at}` : sql`created >= ${term.at}`
    case "Contains": {
      const pattern = term.field === "tag" ? `%,${escape(term.value)},%` : `%${escape(term.value)}%`
      return sql.or(columns[term.field].map((column) => sql`${sql(column)} LIKE ${pattern} ESCAPE '\\'`))
    }
  }
}

/**
 * The clause of `query`: every term holds (`1 = 1` for an empty query).
 *
 * @since 0.2.0
 * @category constructors
 */
export const where = (sql: SqlClient.SqlClient, query: string, timeZone?: string | undefined): Statement.Fragment => {
  const terms = Search.parse(query, timeZone)
  if (terms.length === 0) return sql`1 = 1`
  return sql.and(
    terms.map((term) => (term.negated ? sql`NOT (${condition(sql, term)})` : sql`(${condition(sql, term)})`))
  )
}

/**
 * The clause of a selection.
 *
 * @since 0.2.0
 * @category constructors
 */
export const selected = (sql: SqlClient.SqlClient, selection: Inbox.Selection): Statement.Fragment => {
  switch (selection._tag) {
    case "All":
      return sql`1 = 1`
    case "Ids":
      return selection.ids.length === 0 ? sql`1 = 0` : sql.in("id", selection.ids)
    case "Search":
      return where(sql, selection.query, selection.timeZone)
  }
}
