/**
 * The `queue` command: the mail queue at `--queue` (the server's, default
 * `effect-smtpd-queue.db` in the working directory, or a `postgres://` URL) seen and operated
 * as Postfix's `mailq`, `postqueue -f` and `postsuper -d` do:
 *
 * - `queue list`: each message (id, size, arrival, sender), its waiting recipients with their
 *   last reply; `--json`: one JSON array of the messages;
 * - `queue show ID`: the envelope, every recipient's state and reply, the message's header;
 * - `queue flush` / `queue retry ID`: all messages / one due now (a running server's delivery
 *   takes them at its next look, within a second, upstreams it found unreachable included);
 * - `queue delete ID` / `queue purge`: one message / every message removed.
 *
 * Each says what it did and exits 0; an id not in the queue, or a queue that cannot be opened,
 * exits 1 with a one-line message.
 *
 * @since 0.2.0
 */
import { Argument, Command, Flag } from "effect/cli"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as QueueSpec from "../queue/QueueSpec.js"
import * as MailQueue from "../queue/MailQueue.js"
import { defaultQueue } from "./Options.js"

/**
 * The queue command failed: no such message, or a queue that cannot be opened or read. The
 * message is printed, the exit status is 1.
 *
 * @since 0.2.0
 * @category errors
 */
export class QueueCommandError extends Data.TaggedError("QueueCommandError")<{ readonly message: string }> {}

const flags = {
  json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Print JSON instead of text.")),
  queue: Flag.String("queue").pipe(
    Flag.withDefault(defaultQueue),
    Flag.withDescription(`The queue: a SQLite file or a postgres:// URL (default ${defaultQueue}).`)
  )
}

const messageId = Argument.String("id").pipe(Argument.withDescription("A message's queue id (from queue list)."))

// `operation` on the queue at `spec`; a SQLite file that is not there is no queue (opening it
// would create an empty one, and a mistyped path would look like an empty queue)
const withQueue = <A>(
  spec: string,
  operation: (queue: MailQueue.Service) => Effect.Effect<A, MailQueue.QueueError | QueueCommandError>
) =>
  Effect.gen(function* () {
    if (!QueueSpec.isPostgres(spec)) {
      const fs = yield* FileSystem.FileSystem
      const exists = yield* fs.exists(spec).pipe(Effect.orElseSucceed(() => false))
      if (!exists) return yield* new QueueCommandError({ message: `cannot open the queue ${spec}: no such file` })
    }
    // (loaded here: the server's command does not load the SQL clients unless it queues)
    const NodeMailQueue = yield* Effect.promise(() => import("../node/NodeMailQueue.js"))
    return yield* Effect.flatMap(MailQueue.MailQueue, operation).pipe(
      Effect.provide(NodeMailQueue.layer(spec)),
      Effect.catchTags({
        QueueOpenError: (e) => Effect.fail(new QueueCommandError({ message: e.message })),
        QueueError: (e) => Effect.fail(new QueueCommandError({ message: `the queue's ${e.operation} failed` }))
      })
    )
  })

const notFound = (id: string) => new QueueCommandError({ message: `no message ${id} in the queue` })

const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z")
const sender = (mailFrom: string) => (mailFrom === "" ? "<>" : mailFrom)
const indent = " ".repeat(8)

/**
 * `mailq`'s listing: a line per message, then its waiting recipients, each under its last reply.
 *
 * @since 0.2.0
 * @category formatting
 */
export const formatList = (messages: ReadonlyArray<MailQueue.QueuedMessage>): string => {
  if (messages.length === 0) return "Mail queue is empty"
  const lines = ["-Queue ID-        --Size-- ----Arrival Time---- -Sender/Recipient-------"]
  for (const message of messages) {
    const size = String(message.size).padStart(8)
    lines.push(`${message.id.padEnd(17)} ${size} ${time(message.createdAt).padEnd(20)} ${sender(message.mailFrom)}`)
    for (const recipient of MailQueue.pending(message)) {
      if (recipient.lastReply !== undefined) lines.push(`${indent}(${recipient.lastReply})`)
      lines.push(`${indent}${recipient.address}`)
    }
    lines.push("")
  }
  const kbytes = Math.ceil(messages.reduce((sum, m) => sum + m.size, 0) / 1024)
  lines.push(`-- ${kbytes} Kbytes in ${messages.length} Request${messages.length === 1 ? "" : "s"}.`)
  return lines.join("\n")
}

const parameters = (list: MailQueue.QueuedMessage["mailParameters"]) =>
  list.map((p) => (p.value === undefined ? p.keyword : `${p.keyword}=${p.value}`)).join(" ")

/**
 * One message in full: its envelope, every recipient's state and last reply, then its header.
 *
 * @since 0.2.0
 * @category formatting
 */
export const formatMessage = (message: MailQueue.QueuedMessage, header: string): string => {
  const lines = [
    `id: ${message.id}`,
    `route: ${message.route}`,
    `from: ${sender(message.mailFrom)}${message.mailParameters.length > 0 ? ` ${parameters(message.mailParameters)}` : ""}`,
    `size: ${message.size}`,
    `arrived: ${time(message.createdAt)}`,
    `attempts: ${message.attempts}`,
    `next attempt: ${time(message.nextAttempt)}`,
    ...(message.bounce ? ["a delivery status notification"] : []),
    "recipients:",
    ...message.recipients.map(
      (r) =>
        `  ${r.address}${r.parameters.length > 0 ? ` ${parameters(r.parameters)}` : ""}: ${r.state}` +
        (r.lastReply === undefined ? "" : ` (${r.lastReply})`)
    ),
    "",
    header.replace(/\r\n$/, "").replaceAll("\r\n", "\n")
  ]
  return lines.join("\n")
}

// a header larger than this is shown cut: it is for a person to read
const maxHeader = 256 * 1024

// the body's header section (up to the blank line), read no further than it
const headerOf = (queue: MailQueue.Service, id: string) =>
  Effect.map(MailQueue.header(queue, id, maxHeader), ({ bytes, complete }) =>
    Buffer.from(complete ? bytes : bytes.subarray(0, maxHeader)).toString("utf8")
  )

const json = (value: unknown) => JSON.stringify(value, null, 2)

const list = Command.make("list", flags, (config) =>
  withQueue(config.queue, (queue) => queue.list).pipe(
    Effect.flatMap((messages) => Console.log(config.json ? json(messages) : formatList(messages)))
  )
).pipe(Command.withDescription("List the queue as mailq does: each message and its waiting recipients."))

const show = Command.make("show", { ...flags, id: messageId }, (config) =>
  withQueue(config.queue, (queue) =>
    Effect.gen(function* () {
      const message = yield* queue.get(config.id)
      if (message === undefined) return yield* notFound(config.id)
      return { message, header: yield* headerOf(queue, config.id) }
    })
  ).pipe(
    Effect.flatMap(({ header, message }) =>
      Console.log(config.json ? json({ ...message, header }) : formatMessage(message, header))
    )
  )
).pipe(Command.withDescription("Show one message: its envelope, its recipients' states and replies, its header."))

// a command that changes `count` messages: what it did, in words or JSON
const changes = (
  name: string,
  description: string,
  withId: boolean,
  run: (queue: MailQueue.Service, id: string | undefined) => Effect.Effect<number, MailQueue.QueueError>,
  said: (count: number) => string
) => {
  const handler = (config: { readonly json: boolean; readonly queue: string; readonly id?: string }) =>
    withQueue(config.queue, (queue) => run(queue, config.id)).pipe(
      Effect.filterOrFail(
        (count) => config.id === undefined || count > 0,
        () => notFound(config.id!)
      ),
      Effect.flatMap((count) => Console.log(config.json ? JSON.stringify({ [name]: count }) : said(count)))
    )
  const command = withId ? Command.make(name, { ...flags, id: messageId }, handler) : Command.make(name, flags, handler)
  return command.pipe(Command.withDescription(description))
}

const plural = (count: number) => `${count} message${count === 1 ? "" : "s"}`

const flush = changes(
  "flush",
  "Make every message due now, as postqueue -f does: a running server delivers them at once.",
  false,
  (queue) => queue.retry(undefined, Date.now()),
  (count) => `${plural(count)} due now`
)

const retry = changes(
  "retry",
  "Make one message due now, as postqueue -i does.",
  true,
  (queue, id) => queue.retry(id, Date.now()),
  (count) => `${plural(count)} due now`
)

const remove = changes(
  "delete",
  "Delete one message from the queue, as postsuper -d ID does; its sender is not told.",
  true,
  (queue, id) => queue.remove(id),
  (count) => `${plural(count)} deleted`
)

const purge = changes(
  "purge",
  "Delete every message in the queue, as postsuper -d ALL does; their senders are not told.",
  false,
  (queue) => queue.remove(undefined),
  (count) => `${plural(count)} deleted`
)

/**
 * @since 0.2.0
 * @category constructors
 */
export const command = Command.make("queue").pipe(
  Command.withDescription("See and operate the mail queue of --relay-mode queue (mailq, postqueue, postsuper)."),
  Command.withSubcommands([list, show, flush, retry, remove, purge])
)
