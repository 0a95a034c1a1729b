/**
 * An SMTP and LMTP client on the protocol core's codecs: it connects, greets with EHLO (HELO when
 * that is refused; LHLO for LMTP), upgrades with STARTTLS, authenticates, and runs transactions
 * whose body streams from a `Stream<Uint8Array>`, never held whole: in BDAT chunks when the server
 * offers CHUNKING (RFC 3030), else dot-stuffed after DATA. DSN parameters (RFC 3461) go to servers
 * that offer DSN. The relay handlers use it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
// aliased: `Result` is this module's own model below
import * as EffectResult from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Command from "../protocol/Command.js"
import type * as Parameters from "../protocol/Parameters.js"
import * as Reply from "../protocol/Reply.js"
import * as Authentication from "./Authentication.js"
import { type ClientError, UpstreamRefused, UpstreamUnavailable } from "./ClientError.js"
import * as Conversation from "./Conversation.js"
import * as Dialer from "./Dialer.js"
import * as Extensions from "./Extensions.js"
import * as Transaction from "./Transaction.js"
import * as Transfer from "./Transfer.js"

/**
 * How long to wait for each step; RFC 5321 §4.5.3.2 gives the defaults (and Postfix the
 * connect timeout).
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeouts {
  readonly connect: Duration.Input
  readonly greeting: Duration.Input
  /** EHLO, STARTTLS, AUTH, RSET, QUIT. */
  readonly command: Duration.Input
  readonly mail: Duration.Input
  readonly rcpt: Duration.Input
  readonly dataInit: Duration.Input
  /** Each write of the body; with BDAT also the reply to each chunk but the last. */
  readonly dataBlock: Duration.Input
  /** The reply after the final dot or the last BDAT chunk; with LMTP, each recipient's. */
  readonly dataEnd: Duration.Input
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeouts: Timeouts = {
  connect: "30 seconds",
  greeting: "5 minutes",
  command: "5 minutes",
  mail: "5 minutes",
  rcpt: "5 minutes",
  dataInit: "2 minutes",
  dataBlock: "3 minutes",
  dataEnd: "10 minutes"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly host: string
  /** Default 25, or 465 with `implicitTls`. */
  readonly port?: number | undefined
  /** STARTTLS when offered (`opportunistic`, the default), always (`required`), or never. */
  readonly startTls?: "opportunistic" | "required" | "off" | undefined
  /** TLS from the first byte (port 465, RFC 8314). */
  readonly implicitTls?: boolean | undefined
  /** Certificate checks; verification is on unless turned off here. */
  readonly tls?: Dialer.TlsOptions | undefined
  /** AUTH PLAIN or LOGIN with these credentials, over TLS only unless `allowPlaintextAuth`. */
  readonly auth?: { readonly user: string; readonly password: Redacted.Redacted<string> } | undefined
  readonly allowPlaintextAuth?: boolean | undefined
  /** The name we give in EHLO or LHLO (default `localhost`). */
  readonly heloName?: string | undefined
  readonly timeouts?: Partial<Timeouts> | undefined
  /**
   * Speak LMTP (RFC 2033): LHLO, never HELO, and after the content one reply per accepted
   * recipient (`dataReplies`, and `send`'s `Result`). Give the server's `port`: LMTP has none of
   * its own.
   */
  readonly lmtp?: boolean | undefined
  /**
   * Send bodies with BDAT when the server offers CHUNKING (default true); a `BODY=BINARYMIME`
   * message cannot be sent without it.
   */
  readonly chunking?: boolean | undefined
  /** The largest BDAT chunk, in bytes (default 64 KiB): what the client holds of a body. */
  readonly chunkSize?: number | undefined
}

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
 * @since 0.1.0
 * @category tags
 */
export class SmtpClient extends Context.Service<
  SmtpClient,
  {
    /** Connects and greets; the session ends (QUIT, close) with the scope. */
    readonly connect: (options: Options) => Effect.Effect<Connection, ClientError, Scope.Scope>
  }
>()("effect-smtpd/SmtpClient") {}

const crlf = (command: Command.Command) => `${Command.encodeLine(command)}\r\n`
const encodeCommand = Schema.encodeResult(Command.CommandFromLine)
const encode = (command: Command.Command, refusal: Reply.Reply) =>
  EffectResult.match(encodeCommand(command), {
    onFailure: () => EffectResult.fail(new UpstreamRefused({ command: command._tag.toUpperCase(), reply: refusal })),
    onSuccess: (line) => EffectResult.succeed(`${line}\r\n`)
  })

type Limit = (key: keyof Timeouts) => Duration.Duration

// EHLO, or HELO when it is refused; LHLO for LMTP, which has no fallback (RFC 2033 §4.1)
const hello = (talk: Conversation.Conversation, options: Options, limit: Limit) =>
  Effect.gen(function* () {
    const domain = options.heloName ?? "localhost"
    const ehloLine = crlf({ _tag: "Ehlo", domain })
    if (options.lmtp) {
      // LHLO takes EHLO's argument (RFC 2033 §4.1)
      const lhlo = yield* talk.expect(`LHLO${ehloLine.slice(4)}`, limit("command"), 250)
      return Extensions.fromEhlo(lhlo)
    }
    const ehlo = yield* talk.command(ehloLine, limit("command"))
    if (ehlo.code === 250) return Extensions.fromEhlo(ehlo)
    if (ehlo.code < 500) yield* talk.check("EHLO", ehlo, 250)
    yield* talk.expect(crlf({ _tag: "Helo", domain }), limit("command"), 250)
    return new Map<string, string>()
  })

// the greeting, hello, STARTTLS and AUTH: a session ready for mail, with what the server offers
const open = (dialer: Dialer.Dialer["Service"], options: Options, limit: Limit) =>
  Effect.gen(function* () {
    const tls = { ...options.tls, host: options.host }
    const talk = yield* Effect.acquireRelease(
      dialer
        .connect({
          host: options.host,
          port: options.port ?? (options.implicitTls ? 465 : 25),
          tls: options.implicitTls ? tls : undefined,
          timeout: limit("connect")
        })
        .pipe(
          Effect.mapError(
            (error) => new UpstreamUnavailable({ reason: "connect", detail: `${options.host}: ${String(error.cause)}` })
          ),
          Effect.map(Conversation.make)
        ),
      // a slow goodbye must not hold up the session that used the connection
      (talk) => talk.quit(Duration.min(limit("command"), Duration.seconds(10)))
    )
    yield* Effect.flatMap(talk.read(limit("greeting")), (reply) => talk.check("greeting", reply, 220))
    let extensions = yield* hello(talk, options, limit)

    const startTls = options.implicitTls ? "off" : (options.startTls ?? "opportunistic")
    if (startTls !== "off" && !talk.secure) {
      if (!extensions.has("STARTTLS")) {
        if (startTls === "required") {
          return yield* new UpstreamUnavailable({ reason: "tls", detail: `${options.host} does not offer STARTTLS` })
        }
      } else {
        const reply = yield* talk.command("STARTTLS\r\n", limit("command"))
        if (reply.code === 220) {
          yield* talk.startTls(tls, limit("command"))
          extensions = yield* hello(talk, options, limit)
        } else if (startTls === "required") {
          return yield* new UpstreamUnavailable({ reason: "tls", detail: `STARTTLS refused: ${reply.code}` })
        }
      }
    }

    if (options.auth !== undefined) {
      if (!talk.secure && !options.allowPlaintextAuth) {
        return yield* new UpstreamUnavailable({ reason: "auth", detail: "credentials are only sent over TLS" })
      }
      yield* Authentication.login(talk, extensions, options.auth, limit("command"))
    }
    return { talk, extensions }
  })

// the connection's operations; what the server offers no longer changes
const session = (
  talk: Conversation.Conversation,
  offered: Extensions.Extensions,
  options: Options,
  limit: Limit
): Connection => {
  const extensions = Extensions.usable(offered, { chunking: options.chunking ?? true })
  const lmtp = options.lmtp ?? false
  const chunking = extensions.has("CHUNKING")
  // the transaction in progress: the recipients accepted since MAIL, and whether it is binary
  let recipients: Array<string> = []
  let binary = false
  const reset = Effect.sync(() => {
    recipients = []
  })

  // what the server cannot take is refused here, with the reply a server would give
  const mailLine = (from: string, parameters: Parameters.Parameters, to: ReadonlyArray<string> = []) =>
    Effect.fromResult(
      EffectResult.flatMap(Extensions.mailParameters(extensions, from, parameters, to), (accepted) =>
        encode({ _tag: "Mail", from, parameters: accepted }, Reply.badSender("Invalid sender address"))
      )
    ).pipe(Effect.tap(() => Effect.sync(() => void (binary = Extensions.bodyOf(parameters) === "BINARYMIME"))))
  const rcptLine = (to: string, parameters: Parameters.Parameters) =>
    Effect.fromResult(
      EffectResult.flatMap(Extensions.rcptParameters(extensions, to, parameters), (accepted) =>
        encode({ _tag: "Rcpt", to, parameters: accepted }, Reply.badRecipient("Invalid recipient address"))
      )
    )

  const transfer = <E, R>(content: Stream.Stream<Uint8Array, E, R>, count: number) =>
    Effect.suspend(() => {
      const settings: Transfer.Settings = {
        talk,
        eightBit: extensions.has("8BITMIME") || binary,
        pipelining: extensions.has("PIPELINING"),
        block: limit("dataBlock"),
        command: limit("command"),
        chunkSize: options.chunkSize ?? Transfer.defaultChunkSize
      }
      // the transaction ends with its content, whatever the replies say
      return Effect.andThen(
        reset,
        Effect.andThen(
          chunking ? Transfer.chunked(settings, content) : Transfer.stuffed(settings, content),
          // with no recipient an LMTP server still answers once: a refusal
          Transfer.endReplies(talk, lmtp ? Math.max(count, 1) : 1, limit("dataEnd"))
        )
      )
    })
  // the content of a transaction begun with `mail` and `rcpt`: its end's replies, and whose they are
  const content = <E, R>(body: Stream.Stream<Uint8Array, E, R>) =>
    Effect.suspend(() => {
      const addresses = recipients
      const start = chunking ? Effect.void : talk.expect("DATA\r\n", limit("dataInit"), 354)
      return Effect.map(Effect.andThen(start, transfer(body, addresses.length)), (replies) => ({ addresses, replies }))
    })

  const link: Transaction.Link = {
    talk,
    pipelining: extensions.has("PIPELINING"),
    lmtp,
    chunking,
    timeouts: {
      command: limit("command"),
      mail: limit("mail"),
      rcpt: limit("rcpt"),
      dataInit: limit("dataInit"),
      dataEnd: limit("dataEnd")
    },
    mailLine,
    rcptLine,
    transfer
  }
  const connection: Connection = {
    extensions: offered,
    secure: talk.secure,
    mail: (from, parameters = []) =>
      Effect.flatMap(mailLine(from, parameters), (line) => talk.expect(line, limit("mail"), 250)).pipe(
        Effect.tap(() => reset)
      ),
    rcpt: (to, parameters = []) =>
      Effect.flatMap(rcptLine(to, parameters), (line) => talk.expect(line, limit("rcpt"), [250, 251])).pipe(
        Effect.tap(() => Effect.sync(() => recipients.push(to)))
      ),
    data: (body) =>
      Effect.flatMap(content(body), ({ replies }) =>
        Effect.as(
          Effect.forEach(replies, (reply) => talk.check("end of data", reply, 250), { discard: true }),
          replies[0]!
        )
      ),
    dataReplies: (body) =>
      Effect.flatMap(content(body), ({ addresses, replies }) =>
        // no recipient: the one reply is the server's refusal of the content
        addresses.length === 0
          ? Effect.fail(talk.refusal("end of data", replies[0]!))
          : Effect.succeed(Transaction.perRecipient(lmtp, addresses, replies))
      ),
    rset: Effect.andThen(talk.expect("RSET\r\n", limit("command"), 250), reset),
    send: (envelope, body) => Transaction.send(link, envelope, body)
  }
  return connection
}

const connect = (dialer: Dialer.Dialer["Service"], options: Options) =>
  Effect.gen(function* () {
    const timeouts = { ...defaultTimeouts, ...options.timeouts }
    const limit = (key: keyof Timeouts) => Duration.fromInputUnsafe(timeouts[key])
    const { talk, extensions } = yield* open(dialer, options, limit)
    return session(talk, extensions, options, limit)
  })

export const make: Effect.Effect<SmtpClient["Service"], never, Dialer.Dialer> = Effect.map(Dialer.Dialer, (dialer) =>
  SmtpClient.of({ connect: (options) => connect(dialer, options) })
)

/**
 * The client over whatever `Dialer` is provided (`NodeSmtpClient.layer` gives the Node one).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<SmtpClient, never, Dialer.Dialer> = Layer.effect(SmtpClient, make)
