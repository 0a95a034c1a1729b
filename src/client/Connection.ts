/**
 * One session with a server once it is ready for mail (`SmtpClient.connect` opens it): MAIL and
 * RCPT with the parameters the server can take, the content in BDAT chunks or after DATA, whole
 * transactions, RSET. It knows the client's options only through its `Settings`.
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
// aliased: `Result` is this module's own model below
import * as EffectResult from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as Command from "../protocol/Command.js"
import type * as Parameters from "../protocol/Parameters.js"
import * as Reply from "../protocol/Reply.js"
import { type ClientError, UpstreamRefused } from "./ClientError.js"
import type * as Conversation from "./Conversation.js"
import * as Extensions from "./Extensions.js"
import * as Transaction from "./Transaction.js"
import * as Transfer from "./Transfer.js"

/**
 * The envelope of a message to send (a server's `Session.Envelope` fits).
 *
 * @since 0.1.0
 * @category models
 */
export interface Envelope {
  readonly mailFrom: string
  readonly mailParameters: Parameters.Parameters
  readonly recipients: ReadonlyArray<{ readonly address: string; readonly parameters: Parameters.Parameters }>
}

/**
 * What became of a message: the final reply, and each recipient's fate.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  /**
   * SMTP: the reply to the end of the content (a 250). LMTP: the first 2xx among the recipients'
   * replies to it, or the first refusal when every recipient was refused there.
   */
  readonly reply: Reply.Reply
  /** The recipients the message was delivered to (LMTP: those whose own reply was 2xx), in RCPT order. */
  readonly accepted: ReadonlyArray<string>
  /**
   * The recipients refused, each with its reply: first those refused at RCPT (or before, when
   * their address or parameters cannot be sent), then, with LMTP, those refused after the content.
   */
  readonly refused: ReadonlyArray<RecipientReply>
}

/**
 * A recipient and the reply that decided its fate.
 *
 * @since 0.2.0
 * @category models
 */
export interface RecipientReply {
  readonly address: string
  readonly reply: Reply.Reply
}

/**
 * One session with a server. Use its operations one at a time; after a failure mid-DATA (or a
 * body cut short mid-BDAT) the connection is not usable again and is closed with its scope; a
 * BDAT chunk the server refused leaves it usable.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** What the server offered in its last EHLO reply (empty after HELO). */
  readonly extensions: Extensions.Extensions
  readonly secure: boolean
  /** MAIL FROM; the parameters the server cannot take are left out (or the message refused). */
  readonly mail: (from: string, parameters?: Parameters.Parameters) => Effect.Effect<Reply.Reply, ClientError>
  /** RCPT TO; fails with `UpstreamRefused` when the server refuses this recipient. */
  readonly rcpt: (to: string, parameters?: Parameters.Parameters) => Effect.Effect<Reply.Reply, ClientError>
  /**
   * The body as it streams in (BDAT chunks when CHUNKING is offered, else DATA), then its final
   * reply. With LMTP, the first recipient's reply; any recipient's refusal fails it (use
   * `dataReplies` to know each one's).
   */
  readonly data: <E, R>(body: Stream.Stream<Uint8Array, E, R>) => Effect.Effect<Reply.Reply, ClientError | E, R>
  /**
   * As `data`, but the reply to the end of the content for each recipient accepted at RCPT since
   * MAIL, in RCPT order: with LMTP each one's own, with SMTP the one reply for each. A refusal
   * there is a reply, not a failure.
   */
  readonly dataReplies: <E, R>(
    body: Stream.Stream<Uint8Array, E, R>
  ) => Effect.Effect<ReadonlyArray<RecipientReply>, ClientError | E, R>
  /**
   * A whole transaction, pipelined when the server offers PIPELINING. It fails when no recipient
   * is accepted at RCPT, and with SMTP when the content is refused.
   */
  readonly send: <E, R>(
    envelope: Envelope,
    body: Stream.Stream<Uint8Array, E, R>
  ) => Effect.Effect<Result, ClientError | E, R>
  readonly rset: Effect.Effect<void, ClientError>
}

/**
 * The steps a connection waits on (`SmtpClient.Timeouts` has one for each).
 *
 * @since 0.2.0
 * @category models
 */
export type Step = "command" | "mail" | "rcpt" | "dataInit" | "dataBlock" | "dataEnd"

/**
 * What a connection needs of the client's options, defaults applied.
 *
 * @since 0.2.0
 * @category models
 */
export interface Settings {
  /** LMTP (RFC 2033): after the content, one reply per accepted recipient. */
  readonly lmtp: boolean
  /** BDAT when the server offers CHUNKING. */
  readonly chunking: boolean
  /** The largest BDAT chunk, in bytes. */
  readonly chunkSize: number
  readonly limit: (step: Step) => Duration.Duration
}

const encodeCommand = Schema.encodeResult(Command.CommandFromLine)
const encode = (command: Command.Command, refusal: Reply.Reply) =>
  EffectResult.match(encodeCommand(command), {
    onFailure: () => EffectResult.fail(new UpstreamRefused({ command: command._tag.toUpperCase(), reply: refusal })),
    onSuccess: (line) => EffectResult.succeed(`${line}\r\n`)
  })

/**
 * A `Connection` over a conversation past its greeting, hello, STARTTLS and AUTH: what the
 * server offers no longer changes.
 *
 * @since 0.2.0
 * @category constructors
 */
export class ClientConnection implements Connection {
  readonly extensions: Extensions.Extensions
  readonly secure: boolean
  readonly rset: Effect.Effect<void, ClientError>
  /** What the client uses of what the server offers: not CHUNKING when the settings say no. */
  private readonly usable: Extensions.Extensions
  /** BDAT rather than DATA. */
  private readonly chunking: boolean
  private readonly link: Transaction.Link
  // the transaction in progress: the recipients accepted since MAIL, and whether it is binary
  private recipients: Array<string> = []
  private binary = false
  private readonly reset = Effect.sync(() => {
    this.recipients = []
  })

  constructor(
    private readonly talk: Conversation.Conversation,
    offered: Extensions.Extensions,
    private readonly settings: Settings
  ) {
    const { limit } = settings
    this.extensions = offered
    this.secure = talk.secure
    this.usable = Extensions.usable(offered, { chunking: settings.chunking })
    this.chunking = this.usable.has("CHUNKING")
    this.rset = Effect.andThen(talk.expect("RSET\r\n", limit("command"), 250), this.reset)
    this.link = {
      talk,
      pipelining: this.usable.has("PIPELINING"),
      lmtp: settings.lmtp,
      chunking: this.chunking,
      timeouts: {
        command: limit("command"),
        mail: limit("mail"),
        rcpt: limit("rcpt"),
        dataInit: limit("dataInit"),
        dataEnd: limit("dataEnd")
      },
      mailLine: this.mailLine,
      rcptLine: this.rcptLine,
      transfer: this.transfer
    }
  }

  readonly mail: Connection["mail"] = (from, parameters = []) =>
    Effect.flatMap(this.mailLine(from, parameters), (line) =>
      this.talk.expect(line, this.settings.limit("mail"), 250)
    ).pipe(
      Effect.tap(() => this.reset),
      Effect.withSpan("smtp.client.mail", { kind: "client" })
    )

  readonly rcpt: Connection["rcpt"] = (to, parameters = []) =>
    Effect.flatMap(this.rcptLine(to, parameters), (line) =>
      this.talk.expect(line, this.settings.limit("rcpt"), [250, 251])
    ).pipe(
      Effect.tap(() => Effect.sync(() => this.recipients.push(to))),
      Effect.withSpan("smtp.client.rcpt", { kind: "client" })
    )

  readonly data: Connection["data"] = (body) =>
    Effect.flatMap(this.content(body), ({ replies }) =>
      Effect.as(
        Effect.forEach(replies, (reply) => this.talk.check("end of data", reply, 250), { discard: true }),
        replies[0]!
      )
    )

  readonly dataReplies: Connection["dataReplies"] = (body) =>
    Effect.flatMap(this.content(body), ({ addresses, replies }) =>
      // no recipient: the one reply is the server's refusal of the content
      addresses.length === 0
        ? Effect.fail(this.talk.refusal("end of data", replies[0]!))
        : Effect.succeed(Transaction.perRecipient(this.settings.lmtp, addresses, replies))
    )

  readonly send: Connection["send"] = (envelope, body) =>
    Transaction.send(this.link, envelope, body).pipe(
      Effect.withSpan("smtp.client.send", {
        kind: "client",
        attributes: { "smtp.recipients": envelope.recipients.length }
      })
    )

  // what the server cannot take is refused here, with the reply a server would give
  private readonly mailLine = (from: string, parameters: Parameters.Parameters, to: ReadonlyArray<string> = []) =>
    Effect.fromResult(
      EffectResult.flatMap(Extensions.mailParameters(this.usable, from, parameters, to), (accepted) =>
        encode({ _tag: "Mail", from, parameters: accepted }, Reply.badSender("Invalid sender address"))
      )
    ).pipe(Effect.tap(() => Effect.sync(() => void (this.binary = Extensions.bodyOf(parameters) === "BINARYMIME"))))

  private readonly rcptLine = (to: string, parameters: Parameters.Parameters) =>
    Effect.fromResult(
      EffectResult.flatMap(Extensions.rcptParameters(this.usable, to, parameters), (accepted) =>
        encode({ _tag: "Rcpt", to, parameters: accepted }, Reply.badRecipient("Invalid recipient address"))
      )
    )

  // the content, then the replies to its end for `count` accepted recipients
  private readonly transfer = <E, R>(content: Stream.Stream<Uint8Array, E, R>, count: number) =>
    Effect.suspend(() => {
      const { talk, settings } = this
      const transfer: Transfer.Settings = {
        talk,
        eightBit: this.usable.has("8BITMIME") || this.binary,
        pipelining: this.usable.has("PIPELINING"),
        block: settings.limit("dataBlock"),
        command: settings.limit("command"),
        chunkSize: settings.chunkSize
      }
      // the transaction ends with its content, whatever the replies say
      return Effect.andThen(
        this.reset,
        Effect.andThen(
          this.chunking ? Transfer.chunked(transfer, content) : Transfer.stuffed(transfer, content),
          // with no recipient an LMTP server still answers once: a refusal
          Transfer.endReplies(talk, settings.lmtp ? Math.max(count, 1) : 1, settings.limit("dataEnd"))
        )
      )
    })

  // the content of a transaction begun with `mail` and `rcpt`: its end's replies, and whose they are
  private content<E, R>(body: Stream.Stream<Uint8Array, E, R>) {
    return Effect.suspend(() => {
      const addresses = this.recipients
      const start = this.chunking ? Effect.void : this.talk.expect("DATA\r\n", this.settings.limit("dataInit"), 354)
      return Effect.map(Effect.andThen(start, this.transfer(body, addresses.length)), (replies) => ({
        addresses,
        replies
      }))
    }).pipe(Effect.withSpan("smtp.client.data", { kind: "client" }))
  }
}
