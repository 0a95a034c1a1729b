/**
 * The queue's rows as the database gives them and as `SqlMailQueue` writes them: the two
 * dialects give numbers as numbers or strings (PostgreSQL's BIGINT), and parameters as JSON.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { randomText } from "../internal/RandomText.js"
import type * as Parameters from "../protocol/Parameters.js"
import type * as MailQueue from "./MailQueue.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface MessageRow {
  readonly id: string
  readonly route: string
  readonly mail_from: string
  readonly mail_parameters: string
  readonly size: unknown
  readonly chunks: unknown
  readonly created_at: unknown
  readonly attempts: unknown
  readonly next_attempt: unknown
  readonly bounce: unknown
  readonly warned: unknown
}

/**
 * @since 0.2.0
 * @category models
 */
export interface RecipientRow {
  readonly message_id: string
  readonly idx: unknown
  readonly address: string
  readonly parameters: string
  readonly state: string
  readonly last_reply: string | null
}

const alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ"

/**
 * A queue id: the time, then randomness, in capitals and digits like Postfix's (no vowels, so
 * no words), ordered by creation.
 *
 * @since 0.2.0
 * @category constructors
 */
export const newId = (now = Date.now()): string =>
  now.toString(36).toUpperCase().padStart(9, "0") + randomText(alphabet, 8)

/**
 * @since 0.2.0
 * @category constructors
 */
export const messageRow = (
  id: string,
  submission: MailQueue.Submission,
  body: { readonly size: number; readonly chunks: number; readonly createdAt: number }
) => ({
  id,
  route: submission.route,
  mail_from: submission.mailFrom,
  mail_parameters: JSON.stringify(submission.mailParameters),
  size: body.size,
  chunks: body.chunks,
  created_at: body.createdAt,
  attempts: 0,
  next_attempt: body.createdAt,
  bounce: submission.bounce === true ? 1 : 0,
  warned: 0
})

/**
 * @since 0.2.0
 * @category constructors
 */
export const recipientRows = (id: string, recipients: ReadonlyArray<MailQueue.Recipient>) =>
  recipients.map((recipient, idx) => ({
    message_id: id,
    idx,
    address: recipient.address,
    parameters: JSON.stringify(recipient.parameters),
    state: "queued",
    last_reply: null
  })) as unknown as readonly [Record<string, unknown>, ...Array<Record<string, unknown>>]

const parameters = (json: string): Parameters.Parameters => JSON.parse(json) as Parameters.Parameters

/**
 * Messages with their recipients (`recipients` ordered by message and index).
 *
 * @since 0.2.0
 * @category constructors
 */
export const messages = (
  rows: ReadonlyArray<MessageRow>,
  recipients: ReadonlyArray<RecipientRow>
): ReadonlyArray<MailQueue.QueuedMessage> => {
  const byMessage = new Map<string, Array<MailQueue.QueuedRecipient>>()
  for (const r of recipients) {
    const list = byMessage.get(r.message_id) ?? []
    list.push({
      index: Number(r.idx),
      address: r.address,
      parameters: parameters(r.parameters),
      state: r.state as MailQueue.RecipientState,
      lastReply: r.last_reply ?? undefined
    })
    byMessage.set(r.message_id, list)
  }
  return rows.map((row) => ({
    id: row.id,
    route: row.route,
    mailFrom: row.mail_from,
    mailParameters: parameters(row.mail_parameters),
    recipients: byMessage.get(row.id) ?? [],
    size: Number(row.size),
    createdAt: Number(row.created_at),
    attempts: Number(row.attempts),
    nextAttempt: Number(row.next_attempt),
    bounce: Number(row.bounce) === 1,
    warned: Number(row.warned) === 1
  }))
}

/**
 * Deletes messages with their recipients and their body.
 *
 * @since 0.2.0
 * @category destructors
 */
export const deleteMessages = (sql: SqlClient.SqlClient, ids: ReadonlyArray<string>): Effect.Effect<void, SqlError> =>
  ids.length === 0
    ? Effect.void
    : Effect.all(
        [
          sql`DELETE FROM smtpd_queue_chunks WHERE ${sql.in("message_id", ids)}`,
          sql`DELETE FROM smtpd_queue_recipients WHERE ${sql.in("message_id", ids)}`,
          sql`DELETE FROM smtpd_queue WHERE ${sql.in("id", ids)}`
        ],
        { discard: true }
      )
