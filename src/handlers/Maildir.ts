/**
 * Stores each message in a Maildir (https://cr.yp.to/proto/maildir.html), like aiosmtpd's
 * `Mailbox` and Postfix's maildir delivery: the body is streamed into `tmp/<unique>`, synced to
 * disk, then renamed into `new/<unique>`, so a reader never sees a partial message. If the body
 * fails (the client went away, the message was too big), a write fails, or the delivery is
 * interrupted, the file in `tmp/` is removed and nothing appears in `new/`.
 *
 * File format: `Return-Path: <sender>` and `Delivered-To: <first recipient>` lines, our
 * `Received:` field (RFC 5321 §4.4; `received: false` leaves it out, and a message a `Router`
 * traced already has it), then the message exactly as received. Everything keeps SMTP's CRLF line endings, the two added lines
 * included: rewriting the body to LF would change the bytes a signature (DKIM) was computed
 * over, and mixing LF headers with a CRLF body would be worse than either. Maildir readers
 * (Dovecot, mutt, Python's `mailbox`) accept CRLF files.
 *
 * One file per message, whatever the number of recipients: the Maildir is one mailbox, so
 * every recipient's copy would be the same. `Delivered-To` names the first recipient only, as
 * Postfix does for a delivery to a single mailbox; the others (Bcc among them) are not written.
 *
 * Names follow the Maildir convention `<seconds>.M<microseconds>P<pid>Q<count>.<hostname>`
 * (the server's hostname, `/` and `:` written as `\057` and `\072`). The new directory itself
 * is not fsynced (`FileSystem` cannot open a directory portably), so on some file systems a
 * crash right after the 250 reply can lose the rename; the file's content is synced.
 *
 * File system errors become `StorageError` (`452 4.3.1`): the client keeps the message and
 * retries. Their cause is kept on the error and logged, never sent to the client.
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import type { PlatformError } from "effect/PlatformError"
import * as Stream from "effect/Stream"
import * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Received from "./Received.js"
import * as ErrorText from "../internal/ErrorText.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The Maildir; it and its `tmp`, `new` and `cur` are created (mode 0700) if missing. */
  readonly root: string
  /** Add our `Received:` field (default true). */
  readonly received?: boolean | undefined
}

// Q counts this process's deliveries (the Maildir spec's meaning), not one layer's: two
// handlers on the same root, in one process, must never pick the same name.
let deliveries = 0

const pid = typeof process === "undefined" ? 0 : process.pid

// Maildir: "/" and ":" cannot appear in the host part (":" starts the info part in cur/)
const escapeHost = (hostname: string) => hostname.replaceAll("/", "\\057").replaceAll(":", "\\072")

const uniqueName = (hostname: string): Effect.Effect<string> =>
  Effect.map(Clock.currentTimeNanos, (nanos) => {
    deliveries += 1
    const seconds = nanos / 1_000_000_000n
    const micros = (nanos / 1_000n) % 1_000_000n
    return `${seconds}.M${micros}P${pid}Q${deliveries}.${escapeHost(hostname)}`
  })

const envelopeLines = (message: Message.Message): Uint8Array => {
  const [first] = Message.rcptTos(message)
  const deliveredTo = first === undefined ? "" : `Delivered-To: ${first}\r\n`
  return new TextEncoder().encode(`Return-Path: <${Message.mailFrom(message)}>\r\n${deliveredTo}`)
}

const storage = <A, R>(effect: Effect.Effect<A, PlatformError, R>): Effect.Effect<A, SmtpError.StorageError, R> =>
  Effect.catch(effect, (cause) =>
    Effect.andThen(
      Effect.logError(`maildir: delivery failed: ${ErrorText.ofError(cause)}`),
      Effect.fail(new SmtpError.StorageError({ cause }))
    )
  )

/**
 * The handler, once the Maildir's directories exist. If they cannot be created now (a
 * missing mount, wrong permissions), a warning is logged and every delivery tries again,
 * failing with `StorageError` until it works: the server starts, and heals once it is fixed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<MessageHandler.Handler, never, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    // "/" joins on every platform Node runs on; the Path service would be one more requirement
    const tmp = `${options.root}/tmp`
    const fresh = `${options.root}/new`
    const cur = `${options.root}/cur`
    // once the directories exist, deliveries stop asking; until then each one tries again
    let ready = false
    const prepare = Effect.suspend(() =>
      ready
        ? Effect.void
        : Effect.forEach([tmp, fresh, cur], (dir) => fs.makeDirectory(dir, { recursive: true, mode: 0o700 }), {
            discard: true
          }).pipe(
            Effect.tap(() =>
              Effect.sync(() => {
                ready = true
              })
            )
          )
    )
    yield* prepare.pipe(
      Effect.catch((cause) =>
        Effect.logWarning(`maildir: cannot create ${options.root} (${ErrorText.ofError(cause)}); deliveries will retry`)
      )
    )

    // one file for all recipients: the field names one only when there is one
    const content = (session: SessionInfo, message: Message.Message) =>
      options.received === false || Received.traced(message) !== undefined
        ? Effect.succeed(message.body)
        : Effect.map(Received.make(session, Message.rcptTos(message)), (field) => Received.prepend(message.body, field))

    const maildir: Maildir = { fs, prepare, tmp, fresh, content }
    const deliver = (session: SessionInfo, message: Message.Message) =>
      Effect.gen(() => deliverSteps(maildir, session, message)).pipe(Effect.scoped)

    return MessageHandler.make({ data: deliver })
  })

// what every delivery to one Maildir shares
interface Maildir {
  readonly fs: FileSystem.FileSystem
  /** Creates the directories until they exist. */
  readonly prepare: Effect.Effect<void, PlatformError>
  readonly tmp: string
  readonly fresh: string
  /** What the file holds after the envelope lines. */
  readonly content: (session: SessionInfo, message: Message.Message) => Effect.Effect<Message.Message["body"]>
}

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* deliverSteps(maildir: Maildir, session: SessionInfo, message: Message.Message) {
  const { fs, prepare, tmp, fresh, content } = maildir
  yield* storage(prepare)
  const name = yield* uniqueName(session.hostname)
  const path = `${tmp}/${name}`
  const file = yield* Effect.acquireRelease(
    // "wx": a name clash fails the delivery (452, the client retries) rather than
    // overwriting another message
    storage(fs.open(path, { flag: "wx", mode: 0o600 })),
    // runs before the handle's own close; unlinking an open file is fine on POSIX, and
    // libuv opens files with FILE_SHARE_DELETE on Windows
    (_, exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.ignore(fs.remove(path)))
  )
  yield* storage(file.writeAll(envelopeLines(message)))
  yield* Stream.runForEach(yield* content(session, message), (chunk) => storage(file.writeAll(chunk)))
  // the 250 promises the message is stored: its bytes reach the disk before the rename
  yield* storage(file.sync)
  yield* storage(fs.rename(path, `${fresh}/${name}`))
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<MessageHandler.MessageHandler, never, FileSystem.FileSystem> =>
  Layer.effect(MessageHandler.MessageHandler, make(options))

/**
 * `layer` on Node's file system.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options: Options): Layer.Layer<MessageHandler.MessageHandler> =>
  layer(options).pipe(Layer.provide(NodeFileSystem.layer))
