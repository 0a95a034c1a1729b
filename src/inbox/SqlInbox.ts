/**
 * The `Inbox` in SQLite through Effect's SQL module: a row per message (what the parser made of
 * it as JSON, its text part, lower-cased columns for search, the raw source), a row per
 * attachment or inline part with its decoded bytes. In memory unless a file is given.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Migrator from "effect/sql/Migrator"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import * as GroupCommit from "../internal/GroupCommit.js"
import * as WallClock from "../internal/WallClock.js"
import * as Inbox from "./Inbox.js"
import type * as InboxMessage from "./InboxMessage.js"
import * as InboxQuery from "./InboxQuery.js"
import * as InboxRows from "./InboxRows.js"
import * as Retention from "./Retention.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The parser of a message's bytes (NodeMimeParser.parse on Node). */
  readonly parse: (raw: Uint8Array) => Effect.Effect<InboxMessage.Parsed>
  /** The most messages kept; the oldest go first (default 500). */
  readonly max?: number | undefined
  /** Reported in the `stats` events (Mailpit's UI reloads when it changes). */
  readonly version?: string | undefined
}

const createInbox = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE TABLE inbox_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    read INTEGER NOT NULL,
    size INTEGER NOT NULL,
    attachments INTEGER NOT NULL,
    inlines INTEGER NOT NULL,
    subject_l TEXT NOT NULL,
    from_l TEXT NOT NULL,
    to_l TEXT NOT NULL,
    cc_l TEXT NOT NULL,
    bcc_l TEXT NOT NULL,
    reply_to_l TEXT NOT NULL,
    message_id_l TEXT NOT NULL,
    tags_l TEXT NOT NULL,
    text_l TEXT NOT NULL,
    summary TEXT NOT NULL,
    parsed TEXT NOT NULL,
    envelope TEXT,
    raw BLOB NOT NULL
  )`)
  yield* sql.unsafe(`CREATE TABLE inbox_parts (
    message_id TEXT NOT NULL,
    part_id TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (message_id, part_id)
  )`)
})

// The text part leaves the parse's JSON for a column of its own; the rows of an older inbox
// keep theirs in the JSON, with "" here.
const textColumn = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`ALTER TABLE inbox_messages ADD COLUMN text TEXT NOT NULL DEFAULT ''`)
})

const migrate = Migrator.make({})({
  loader: Migrator.fromRecord({ "1_create_inbox": createInbox, "2_text_column": textColumn }),
  table: "effect_smtpd_inbox_migrations"
})

const statsIntervalMs = 250

// what the retention limit keeps of a new row (`InboxRows.rowOf`'s)
const keptOf = (row: GroupCommit.Row): Retention.Kept => ({
  seq: row["seq"] as number,
  parts: (row["attachments"] as number) + (row["inlines"] as number) > 0
})

const failed =
  (operation: string) =>
  <A, R>(effect: Effect.Effect<A, SqlError, R>): Effect.Effect<A, Inbox.InboxError, R> =>
    Effect.mapError(effect, (cause) => new Inbox.InboxError({ operation, cause }))

/**
 * The inbox on the `SqlClient` in the context (SQLite), its tables migrated.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* migrate
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<Inbox.Event>(), PubSub.shutdown)
    const retention = new Retention.Retention(sql, options.max ?? 500)
    yield* retention.start
    const writer = yield* GroupCommit.make(sql, {
      failure: (cause) => {
        retention.failed()
        return new Inbox.InboxError({ operation: "store", cause })
      },
      finish: (rows) => retention.prune((rows.get("inbox_messages") ?? []).map(keptOf))
    })
    const store = new SqlStore(sql, pubsub, writer, retention, options.version ?? "", yield* Effect.scope)
    return Inbox.Inbox.of({
      store: (raw, envelope) => Effect.flatMap(options.parse(raw), (parsed) => store.store(raw, parsed, envelope)),
      list: (page) => store.list(page).pipe(failed("list")),
      get: (id) => store.get(id).pipe(failed("get")),
      raw: (id) => store.raw(id).pipe(failed("raw")),
      part: (id, partId) => store.part(id, partId).pipe(failed("part")),
      setRead: (selection, read) => store.setRead(selection, read).pipe(failed("read")),
      remove: (selection) => store.remove(selection).pipe(failed("remove")),
      retag: (selection, change) => store.retag(selection, change).pipe(failed("tags")),
      stats: store.stats.pipe(failed("stats")),
      events: Stream.fromPubSub(pubsub)
    })
  })

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Inbox.Inbox, SqlError | Error, SqlClient.SqlClient> =>
  Layer.effect(Inbox.Inbox, make(options))

class SqlStore {
  constructor(
    private readonly sql: SqlClient.SqlClient,
    private readonly pubsub: PubSub.PubSub<Inbox.Event>,
    private readonly writer: GroupCommit.GroupCommit<Inbox.InboxError>,
    private readonly retention: Retention.Retention,
    private readonly version: string,
    private readonly scope: Scope.Scope
  ) {}

  // A change is published at once; the counts (a `stats` event) at most every 250 ms, as
  // Mailpit does: counting after every message of a burst would cost a scan each.
  private statsDue = false
  // messages deleted since the inbox opened (Mailpit's RuntimeStats.MessagesDeleted)
  private deleted = 0

  private publish(events: ReadonlyArray<Inbox.Event>) {
    return Effect.andThen(PubSub.publishAll(this.pubsub, events), this.scheduleStats)
  }

  private get scheduleStats(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.statsDue) return Effect.void
      this.statsDue = true
      const later = Effect.andThen(
        WallClock.sleep(statsIntervalMs),
        Effect.suspend(() => {
          this.statsDue = false
          return this.publishStats
        })
      )
      return Effect.asVoid(Effect.forkIn(later, this.scope))
    })
  }

  private get publishStats() {
    return this.counts.pipe(
      Effect.flatMap(({ total, unread }) =>
        PubSub.publish(this.pubsub, { Type: "stats", Data: { Total: total, Unread: unread, Version: this.version } })
      ),
      Effect.ignore
    )
  }

  // steps, not generators: a generator function made per message is kept by V8's old
  // generation with all it captured (docs/performance/gc.md). The message's row is made by the
  // writer as it builds the next transaction (with the rows of the others that came meanwhile:
  // one commit, multi-row INSERTs, made one after another), which also prunes the oldest past
  // the limit.
  store(raw: Uint8Array, parsed: InboxMessage.Parsed, envelope: InboxMessage.Envelope | undefined) {
    const made = new MadeRow(this.retention, raw, parsed, envelope)
    // the events go out at once, as the commit is answered (an unbounded PubSub takes every one)
    return Effect.flatMap(this.writer.insertMade(made.make, raw.length), () => {
      const summary = made.summary!
      const pruned = this.retention.takePruned()
      this.deleted += pruned
      PubSub.publishUnsafe(this.pubsub, { Type: "new", Data: summary })
      if (pruned > 0) PubSub.publishUnsafe(this.pubsub, { Type: "prune", Data: null })
      return this.statsDue ? Effect.succeed(summary) : Effect.as(this.scheduleStats, summary)
    })
  }

  get counts() {
    return Effect.map(
      this.sql<{ readonly total: number; readonly unread: number }>`SELECT COUNT(*) AS total,
        COALESCE(SUM(CASE WHEN read = 0 THEN 1 ELSE 0 END), 0) AS unread FROM inbox_messages`,
      (rows) => ({ total: Number(rows[0]?.total ?? 0), unread: Number(rows[0]?.unread ?? 0) })
    )
  }

  list(page: {
    readonly start: number
    readonly limit: number
    readonly query?: string | undefined
    readonly timeZone?: string | undefined
  }) {
    const { sql } = this
    const where = InboxQuery.where(sql, page.query ?? "", page.timeZone)
    const self = this
    return Effect.gen(function* () {
      const { total, unread } = yield* self.counts
      const matched = yield* sql<{ readonly n: number; readonly unread: number }>`SELECT COUNT(*) AS n,
        COALESCE(SUM(CASE WHEN read = 0 THEN 1 ELSE 0 END), 0) AS unread FROM inbox_messages WHERE ${where}`
      const rows = yield* sql<InboxRows.ListRow>`SELECT read, summary FROM inbox_messages
        WHERE ${where} ORDER BY seq DESC LIMIT ${page.limit} OFFSET ${page.start}`
      const tags = yield* self.tags
      return {
        total,
        unread,
        matching: Number(matched[0]?.n ?? 0),
        matchingUnread: Number(matched[0]?.unread ?? 0),
        start: page.start,
        tags: Object.keys(tags).sort(),
        messages: rows.map(InboxRows.summaryOf)
      } satisfies Inbox.Page
    })
  }

  // tags in use, and how many messages carry each
  get tags() {
    return Effect.map(
      // from the small summaries, not the whole parses: every list asks
      this.sql<InboxRows.ListRow>`SELECT read, summary FROM inbox_messages WHERE tags_l <> ','`,
      (rows) => {
        const counts: Record<string, number> = {}
        for (const row of rows) {
          for (const tag of InboxRows.summaryOf(row).Tags) counts[tag] = (counts[tag] ?? 0) + 1
        }
        return counts
      }
    )
  }

  private byId(id: string) {
    const { sql } = this
    return id === "latest" ? sql`ORDER BY seq DESC LIMIT 1` : sql`WHERE id = ${id}`
  }

  get(id: string) {
    return Effect.map(
      this
        .sql<InboxRows.Row>`SELECT ${this.sql.literal(InboxRows.summaryColumns)} FROM inbox_messages ${this.byId(id)}`,
      (rows) => (rows[0] === undefined ? undefined : InboxRows.stored(rows[0]))
    )
  }

  raw(id: string) {
    return Effect.map(
      this.sql<{ readonly raw: Uint8Array }>`SELECT raw FROM inbox_messages ${this.byId(id)}`,
      (rows) => rows[0]?.raw
    )
  }

  part(id: string, partId: string) {
    const { sql } = this
    return Effect.gen(function* () {
      const [row] = yield* sql<InboxRows.Row>`SELECT ${sql.literal(InboxRows.summaryColumns)} FROM inbox_messages
        ${id === "latest" ? sql`ORDER BY seq DESC LIMIT 1` : sql`WHERE id = ${id}`}`
      if (row === undefined) return undefined
      const stored = InboxRows.stored(row)
      const part = [...stored.parsed.attachments, ...stored.parsed.inline].find((p) => p.PartID === partId)
      if (part === undefined) return undefined
      const [content] = yield* sql<{ readonly content: Uint8Array }>`SELECT content FROM inbox_parts
        WHERE message_id = ${stored.id} AND part_id = ${partId}`
      return content === undefined ? undefined : { part, content: content.content }
    })
  }

  setRead(selection: Inbox.Selection, read: boolean) {
    const { sql } = this
    const self = this
    return Effect.gen(function* () {
      const changed = yield* sql<{ readonly id: string }>`UPDATE inbox_messages SET read = ${read ? 1 : 0}
        WHERE read <> ${read ? 1 : 0} AND ${InboxQuery.selected(sql, selection)} RETURNING id`
      if (changed.length > 0) {
        yield* self.publish(changed.map((c) => ({ Type: "update", Data: { ID: c.id, Read: read } }) as const))
      }
      return changed.length
    })
  }

  remove(selection: Inbox.Selection) {
    const { sql } = this
    const self = this
    return Effect.gen(function* () {
      const ids = yield* sql<{ readonly id: string }>`SELECT id FROM inbox_messages
        WHERE ${InboxQuery.selected(sql, selection)}`
      yield* InboxRows.deleteIds(
        sql,
        ids.map((row) => row.id)
      )
      yield* self.publish(
        selection._tag === "All"
          ? [{ Type: "truncate", Data: null }]
          : ids.map((row) => ({ Type: "delete", Data: { ID: row.id } }) as const)
      )
      self.deleted += ids.length
      self.retention.removed()
      return ids.length
    })
  }

  retag(selection: Inbox.Selection, change: (tags: ReadonlyArray<string>) => ReadonlyArray<string>) {
    const { sql } = this
    const self = this
    return Effect.gen(function* () {
      const changed = yield* sql.withTransaction(
        Effect.gen(function* () {
          const rows = yield* sql<{ readonly id: string; readonly parsed: string; readonly summary: string }>`SELECT
            id, parsed, summary FROM inbox_messages WHERE ${InboxQuery.selected(sql, selection)}`
          const done: Array<{ readonly ID: string; readonly Tags: ReadonlyArray<string> }> = []
          for (const row of rows) {
            const before = (JSON.parse(row.parsed) as InboxMessage.Parsed).tags
            const after = [...new Set(change(before).filter((tag) => tag.trim() !== ""))]
            if (after.length === before.length && after.every((tag, i) => tag === before[i])) continue
            yield* sql`UPDATE inbox_messages SET ${sql.update(InboxRows.retagged(row, after))} WHERE id = ${row.id}`
            done.push({ ID: row.id, Tags: after })
          }
          return done
        })
      )
      if (changed.length > 0) yield* self.publish(changed.map((Data) => ({ Type: "update", Data }) as const))
      return changed.length
    })
  }

  get stats() {
    return Effect.map(Effect.all([this.counts, this.tags]), ([counts, tags]) => ({
      ...counts,
      tags,
      deleted: this.deleted
    }))
  }
}

// a new message's rows, made when the writer takes it into a transaction (its seq then follows
// the transaction's order); its summary once they are
class MadeRow {
  summary: InboxMessage.Summary | undefined = undefined
  constructor(
    private readonly retention: Retention.Retention,
    private readonly raw: Uint8Array,
    private readonly parsed: InboxMessage.Parsed,
    private readonly envelope: InboxMessage.Envelope | undefined
  ) {}

  readonly make = (): ReadonlyArray<GroupCommit.Insert> => {
    const { row, summary } = InboxRows.rowOf(this.retention.seq(), this.raw, this.parsed, this.envelope)
    this.summary = summary
    const parts = [...this.parsed.contents].map(([part_id, content]) => ({ message_id: row.id, part_id, content }))
    return [
      { table: "inbox_messages", rows: [row] },
      { table: "inbox_parts", rows: parts }
    ]
  }
}
