// The queue's delivery as a test drives it (issue 15): a SQLite queue in a temporary file, an
// upstream of our own whose RCPT replies a test scripts per address and try, the Delivery loop on
// a short retry policy, and waiting on real time (SqlMailQueue stamps messages with Date.now()).
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Clock, Context, Duration, Effect, Layer, Ref, Stream } from "effect"
import type { Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type * as SmtpClient from "../../src/client/SmtpClient.js"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import type * as Parameters from "../../src/protocol/Parameters.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import * as Delivery from "../../src/queue/Delivery.js"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as SqlMailQueue from "../../src/queue/SqlMailQueue.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"

/** A directory removed with what it holds when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-queue-test-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** A SQLite queue in a fresh file, open for the scope. */
export const sqliteQueue = Effect.gen(function* () {
  const filename = Path.join(yield* tempDir, "queue.db")
  const context = yield* Layer.build(SqlMailQueue.layer.pipe(Layer.provide(SqliteClient.layer({ filename }))))
  return Context.get(context, MailQueue.MailQueue)
})

/** What the upstream accepted: one entry per message, with its exact bytes. */
export interface Received {
  readonly mailFrom: string
  readonly rcptTos: ReadonlyArray<string>
  readonly data: Uint8Array
  readonly text: string
  /** When its data was taken (epoch milliseconds). */
  readonly at: number
}

/** The upstream's answer to RCPT `address` offered for the `tries`-th time (0 the first): undefined accepts. */
export type RcptPolicy = (address: string, tries: number) => SmtpError.SmtpError | undefined

export interface Upstream {
  readonly port: number
  readonly received: Effect.Effect<ReadonlyArray<Received>>
  /** Every RCPT it was offered, in order. */
  readonly rcpts: Effect.Effect<ReadonlyArray<string>>
}

/** 550 5.1.1 */
export const noSuchUser = new SmtpError.MailboxNotFound({ text: "No such user here" })
/** 450 4.2.1 */
export const tryLater = new SmtpError.MailboxUnavailable({ text: "Mailbox busy, try later", transient: true })

/**
 * Our server on 127.0.0.1 (port 0, or `port`) as the queue's upstream, named upstream.test: RCPT
 * as `policy` says, every message accepted and kept; DSN offered unless `dsn` is false.
 */
export const upstream = (policy: RcptPolicy = () => undefined, port = 0, dsn = true) =>
  Effect.gen(function* () {
    const received = yield* Ref.make<ReadonlyArray<Received>>([])
    const rcpts = yield* Ref.make<ReadonlyArray<string>>([])
    const handler = MessageHandler.make({
      rcpt: (_session, recipient) =>
        Effect.flatMap(
          Ref.modify(rcpts, (all) => [all.filter((a) => a === recipient.address).length, [...all, recipient.address]]),
          (tries) => {
            const refusal = policy(recipient.address, tries)
            return refusal === undefined ? Effect.void : Effect.fail(refusal)
          }
        ),
      data: (_session, message) =>
        Effect.gen(function* () {
          const data = yield* Message.bytes(message)
          const at = yield* Clock.currentTimeMillis
          const text = Buffer.from(data).toString("latin1")
          const entry = { mailFrom: message.envelope.mailFrom, rcptTos: Message.rcptTos(message), data, text, at }
          yield* Ref.update(received, (all) => [...all, entry])
        })
    })
    const context = yield* Layer.build(
      NodeSmtpServer.layer({ listen: `127.0.0.1:${port}`, hostname: "upstream.test", shutdownGrace: 0, dsn }).pipe(
        Layer.provide(Layer.succeed(MessageHandler.MessageHandler, handler))
      )
    )
    const listening: Upstream = {
      port: Context.get(context, SmtpServer).addresses[0]!.port,
      received: Ref.get(received),
      rcpts: Ref.get(rcpts)
    }
    return listening
  })

/** How the queue reaches an upstream on `port`: plain, with short timeouts (a dead one costs little). */
export const routeTo = (port: number): SmtpClient.Options => ({
  host: "127.0.0.1",
  port,
  startTls: "off",
  timeouts: { connect: "500 millis", greeting: "1 second", command: "1 second", dataEnd: "2 seconds" }
})

/** Runs `Delivery` on `queue` for the scope as relay.test, looking for due messages every 50 ms. */
export const runDelivery = (
  queue: MailQueue.Service,
  options: Omit<Delivery.Options, "hostname" | "pollInterval"> & { readonly hostname?: string | undefined }
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(
    Layer.build(
      // an upstream found down is left alone for as short a time as the retries here
      Delivery.layer({
        deadRoute: "100 millis",
        ...options,
        hostname: options.hostname ?? "relay.test",
        pollInterval: "50 millis"
      }).pipe(Layer.provide(Layer.merge(Layer.succeed(MailQueue.MailQueue, queue), NodeSmtpClient.layer)))
    )
  )

const encoder = new TextEncoder()

/** `queue` with every submission it was given kept, in order: what the delivery enqueued too. */
export const spyQueue = (queue: MailQueue.Service) =>
  Effect.map(Ref.make<ReadonlyArray<MailQueue.Submission>>([]), (submissions) => ({
    queue: MailQueue.MailQueue.of({
      ...queue,
      enqueue: (submission, body) =>
        Effect.andThen(
          Ref.update(submissions, (all) => [...all, submission]),
          queue.enqueue(submission, body)
        )
    }),
    submissions: Ref.get(submissions)
  }))

/** A message for the queue: recipients given as addresses, or with their RCPT parameters. */
export const enqueue = (
  queue: MailQueue.Service,
  options: {
    readonly from: string
    readonly to: ReadonlyArray<string | MailQueue.Recipient>
    readonly mailParameters?: Parameters.Parameters | undefined
    readonly body: string | Uint8Array
    readonly route?: string | undefined
  }
) =>
  queue.enqueue(
    {
      route: options.route ?? "upstream",
      mailFrom: options.from,
      mailParameters: options.mailParameters ?? [],
      recipients: options.to.map((r) => (typeof r === "string" ? { address: r, parameters: [] } : r))
    },
    Stream.make(typeof options.body === "string" ? encoder.encode(options.body) : options.body)
  )

/** A test message: a header section and a recognisable body line. */
export const message = (subject: string, body = `The body of ${subject}.`) =>
  `From: <sender@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, "")}@example.com>\r\n\r\n${body}\r\n`

/**
 * Polls `effect` (every 20 ms) until `ok` holds or `timeout` passes; gives the last value either
 * way, for the test to assert on (a failed expectation then shows what there was).
 */
export const waitFor = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  ok: (a: A) => boolean,
  timeout: Duration.Input = "5 seconds"
) =>
  Effect.gen(function* () {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    while (true) {
      const value = yield* effect
      if (ok(value) || (yield* Clock.currentTimeMillis) > deadline) return value
      yield* Effect.sleep("20 millis")
    }
  })

/** The notices among what the upstream received: from the null sender. */
export const notices = (received: ReadonlyArray<Received>) => received.filter((r) => r.mailFrom === "")

/** What reached `address` other than notices. */
export const deliveredTo = (received: ReadonlyArray<Received>, address: string) =>
  received.filter((r) => r.mailFrom !== "" && r.rcptTos.includes(address))
