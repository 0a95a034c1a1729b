// What the store tests (SQLite and PostgreSQL) share: a submission with DSN parameters, and a
// stored body read back whole.
import { Effect, Stream } from "effect"
import * as Framer from "../../src/protocol/Framer.js"
import type * as MailQueue from "../../src/queue/MailQueue.js"

export const encoder = new TextEncoder()

/** Two recipients, the second with NOTIFY=NEVER; RET=HDRS on MAIL. */
export const submission: MailQueue.Submission = {
  route: "upstream",
  mailFrom: "a@example.com",
  mailParameters: [{ keyword: "RET", value: "HDRS" }],
  recipients: [
    { address: "b@example.net", parameters: [] },
    { address: "c@example.net", parameters: [{ keyword: "NOTIFY", value: "NEVER" }] }
  ]
}

/** A stored message's body, whole. */
export const read = (queue: MailQueue.Service, id: string) =>
  Effect.map(Stream.runCollect(queue.body(id)), (pieces) => Framer.concat(pieces))
