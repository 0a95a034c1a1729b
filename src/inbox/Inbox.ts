/**
 * The inbox of captured mail (`-c Inbox`): each message parsed once on arrival and kept with
 * its raw source, the newest `max` of them; read status, search and deletion as Mailpit has
 * them; a stream of events for live views. A service, so that a test can replace it;
 * `SqlInbox` keeps it in SQLite through Effect's SQL module.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as InboxMessage from "./InboxMessage.js"

/**
 * The inbox's store failed.
 *
 * @since 0.2.0
 * @category errors
 */
export class InboxError extends Schema.TaggedError<InboxError>()("InboxError", {
  operation: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * A page of summaries, and the counts Mailpit's list gives with it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Page {
  readonly total: number
  readonly unread: number
  /** Messages matching the query (all of them for a plain list). */
  readonly matching: number
  readonly matchingUnread: number
  readonly start: number
  readonly tags: ReadonlyArray<string>
  readonly messages: ReadonlyArray<InboxMessage.Summary>
}

/**
 * Which messages an operation is about.
 *
 * @since 0.2.0
 * @category models
 */
export type Selection =
  | { readonly _tag: "All" }
  | { readonly _tag: "Ids"; readonly ids: ReadonlyArray<string> }
  /** `timeZone`: the IANA zone of the query's dates (Mailpit's `tz`). */
  | { readonly _tag: "Search"; readonly query: string; readonly timeZone?: string | undefined }

/**
 * What changed, for live views: Mailpit's websocket events.
 *
 * @since 0.2.0
 * @category models
 */
export type Event =
  | { readonly Type: "new"; readonly Data: InboxMessage.Summary }
  | { readonly Type: "update"; readonly Data: { readonly ID: string; readonly Read: boolean } }
  | { readonly Type: "update"; readonly Data: { readonly ID: string; readonly Tags: ReadonlyArray<string> } }
  | { readonly Type: "delete"; readonly Data: { readonly ID: string } }
  | { readonly Type: "truncate"; readonly Data: null }
  | { readonly Type: "prune"; readonly Data: null }
  | {
      readonly Type: "stats"
      readonly Data: { readonly Total: number; readonly Unread: number; readonly Version: string }
    }

/**
 * @since 0.2.0
 * @category models
 */
export interface Stats {
  readonly total: number
  readonly unread: number
  readonly tags: Readonly<Record<string, number>>
  /** Messages deleted since the inbox opened (through the API, or the oldest past the limit). */
  readonly deleted: number
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** Parses and keeps a message; the oldest beyond the limit go. */
  readonly store: (raw: Uint8Array, envelope?: InboxMessage.Envelope) => Effect.Effect<InboxMessage.Summary, InboxError>
  /**
   * Newest first; with a query, only the messages matching it (Mailpit's search syntax, its
   * dates in `timeZone` when given).
   */
  readonly list: (options: {
    readonly start: number
    readonly limit: number
    readonly query?: string | undefined
    readonly timeZone?: string | undefined
  }) => Effect.Effect<Page, InboxError>
  /** A message (`latest`: the newest), undefined when there is none. */
  readonly get: (id: string) => Effect.Effect<InboxMessage.Stored | undefined, InboxError>
  readonly raw: (id: string) => Effect.Effect<Uint8Array | undefined, InboxError>
  readonly part: (
    id: string,
    partId: string
  ) => Effect.Effect<{ readonly part: InboxMessage.Part; readonly content: Uint8Array } | undefined, InboxError>
  /** Marks the selection read or unread; says how many changed. */
  readonly setRead: (selection: Selection, read: boolean) => Effect.Effect<number, InboxError>
  readonly remove: (selection: Selection) => Effect.Effect<number, InboxError>
  /**
   * Changes the tags of messages: `change` gets a message's tags and gives its new ones;
   * `selection` says whose. Says how many changed.
   */
  readonly retag: (
    selection: Selection,
    change: (tags: ReadonlyArray<string>) => ReadonlyArray<string>
  ) => Effect.Effect<number, InboxError>
  readonly stats: Effect.Effect<Stats, InboxError>
  /** What changes from now on. */
  readonly events: Stream.Stream<Event>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class Inbox extends Context.Service<Inbox, Service>()("effect-smtpd/Inbox") {}
