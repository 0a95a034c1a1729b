/**
 * An SMTP client on the protocol core's codecs: it connects, greets with EHLO (HELO when that
 * is refused), upgrades with STARTTLS, authenticates, and runs transactions whose body streams
 * from a `Stream<Uint8Array>`, dot-stuffed, never held whole. The relay handlers use it.
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
import * as Stream from "effect/Stream"
import * as Command from "../protocol/Command.js"
import * as DataEncoder from "../protocol/DataEncoder.js"
import type * as Parameters from "../protocol/Parameters.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Authentication from "./Authentication.js"
import {
  type ClientError,
  toSmtpError,
  UpstreamRefused,
  UpstreamUnavailable,
  UpstreamUnsupported
} from "./ClientError.js"
import * as Conversation from "./Conversation.js"
import * as Dialer from "./Dialer.js"
import * as Extensions from "./Extensions.js"

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
  /** Each write of the body. */
  readonly dataBlock: Duration.Input
  /** The reply after the final dot. */
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
  /** The name we give in EHLO (default `localhost`). */
  readonly heloName?: string | undefined
  readonly timeouts?: Partial<Timeouts> | undefined
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
  readonly reply: Reply.Reply
  readonly accepted: ReadonlyArray<string>
  readonly refused: ReadonlyArray<{ readonly address: string; readonly reply: Reply.Reply }>
}

/**
 * One session with a server. Use its operations one at a time; after a failure mid-DATA the
 * connection is not usable again and is closed with its scope.
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
  /** DATA with the body as it streams in, then its final reply. */
  readonly data: <E, R>(body: Stream.Stream<Uint8Array, E, R>) => Effect.Effect<Reply.Reply, ClientError | E, R>
  /** A whole transaction, pipelined when the server offers PIPELINING. */
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

const connect = (dialer: Dialer.Dialer["Service"], options: Options) =>
  Effect.gen(function* () {
    const timeouts = { ...defaultTimeouts, ...options.timeouts }
    const limit = (key: keyof Timeouts) => Duration.fromInputUnsafe(timeouts[key])
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
    const hello = Effect.gen(function* () {
      const ehlo = yield* talk.command(
        crlf({ _tag: "Ehlo", domain: options.heloName ?? "localhost" }),
        limit("command")
      )
      if (ehlo.code === 250) return Extensions.fromEhlo(ehlo)
      if (ehlo.code < 500) yield* talk.check("EHLO", ehlo, 250)
      yield* talk.expect(crlf({ _tag: "Helo", domain: options.heloName ?? "localhost" }), limit("command"), 250)
      return new Map<string, string>()
    })
    let extensions = yield* hello

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
          extensions = yield* hello
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

    const pipelining = extensions.has("PIPELINING")
    // what the server cannot take is refused here, with the reply a server would give
    const mailLine = (from: string, parameters: Parameters.Parameters, recipients: ReadonlyArray<string> = []) =>
      Effect.fromResult(
        EffectResult.flatMap(Extensions.mailParameters(extensions, from, parameters, recipients), (accepted) =>
          encode({ _tag: "Mail", from, parameters: accepted }, Reply.badSender("Invalid sender address"))
        )
      )
    const rcptLine = (to: string, parameters: Parameters.Parameters) =>
      Effect.fromResult(
        EffectResult.flatMap(Extensions.rcptParameters(extensions, to, parameters), (accepted) =>
          encode({ _tag: "Rcpt", to, parameters: accepted }, Reply.badRecipient("Invalid recipient address"))
        )
      )

    // the body, after a 354: stuffed, bounded by the socket's buffer, then the final reply
    const body = <E, R>(content: Stream.Stream<Uint8Array, E, R>): Effect.Effect<Reply.Reply, ClientError | E, R> =>
      Effect.gen(function* () {
        const encoder = DataEncoder.make()
        const sevenBit = !extensions.has("8BITMIME")
        yield* Stream.runForEach(content, (chunk): Effect.Effect<void, ClientError> =>
          sevenBit && DataEncoder.hasEightBit(chunk)
            ? Effect.fail(new UpstreamUnsupported({ extension: "8BITMIME" }))
            : talk.write(encoder.encode(chunk), limit("dataBlock"))
        ).pipe(
          // a body cut short (failed, or interrupted) leaves the server inside DATA
          Effect.tapError(() => talk.abandon),
          Effect.onInterrupt(() => talk.abandon)
        )
        return yield* talk.expect(encoder.end(), limit("dataEnd"), 250, "end of data")
      })

    // plain fields (what they say no longer changes): getters in an object literal would give each
    // connection a hidden class of its own
    const connection: Connection = {
      extensions,
      secure: talk.secure,
      mail: (from, parameters = []) =>
        Effect.flatMap(mailLine(from, parameters), (line) => talk.expect(line, limit("mail"), 250)),
      rcpt: (to, parameters = []) =>
        Effect.flatMap(rcptLine(to, parameters), (line) => talk.expect(line, limit("rcpt"), [250, 251])),
      data: (content) => Effect.andThen(talk.expect("DATA\r\n", limit("dataInit"), 354), body(content)),
      rset: Effect.asVoid(talk.expect("RSET\r\n", limit("command"), 250)),
      send: <E, R>(envelope: Envelope, content: Stream.Stream<Uint8Array, E, R>) =>
        Effect.gen(function* () {
          const mailCommand = yield* mailLine(
            envelope.mailFrom,
            envelope.mailParameters,
            envelope.recipients.map((r) => r.address)
          )
          const targets: Array<{ readonly address: string; readonly line: string }> = []
          const refused: Array<{ address: string; reply: Reply.Reply }> = []
          for (const { address, parameters } of envelope.recipients) {
            const line = yield* Effect.result(rcptLine(address, parameters))
            if (EffectResult.isSuccess(line)) targets.push({ address, line: line.success })
            else refused.push({ address, reply: SmtpError.reply(toSmtpError(line.failure)) })
          }
          if (targets.length === 0) {
            return yield* new UpstreamRefused({ command: "RCPT", reply: refused[0]?.reply ?? Reply.noValidRecipients })
          }
          const lines = [mailCommand, ...targets.map((target) => target.line), "DATA\r\n"]
          // with PIPELINING the whole envelope goes in one write (RFC 2920 §3.1)
          if (pipelining) yield* talk.write(lines.join(""), limit("command"))
          const step = (i: number, timeout: Duration.Duration) =>
            pipelining ? talk.read(timeout) : talk.command(lines[i]!, timeout)
          const mail = yield* step(0, limit("mail"))
          if (!pipelining && mail.code !== 250) return yield* talk.refusal("MAIL", mail)
          const accepted: Array<string> = []
          for (const [i, target] of targets.entries()) {
            const reply = yield* step(i + 1, limit("rcpt"))
            if (reply.code === 250 || reply.code === 251) accepted.push(target.address)
            else refused.push({ address: target.address, reply })
          }
          // MAIL was taken: a transaction that goes no further is closed with RSET
          const abort = (error: ClientError) =>
            Effect.andThen(Effect.ignore(talk.expect("RSET\r\n", limit("command"), 250)), Effect.fail(error))
          if (!pipelining && accepted.length === 0) return yield* abort(talk.refusal("RCPT", refused[0]!.reply))
          const data = yield* step(lines.length - 1, limit("dataInit"))
          // a pipelining server may still say 354 when every RCPT failed: an empty message ends it
          if (data.code === 354 && (mail.code !== 250 || accepted.length === 0)) {
            yield* talk.expect(".\r\n", limit("dataEnd"), 250).pipe(Effect.ignore)
            return yield* talk.refusal(
              mail.code !== 250 ? "MAIL" : "RCPT",
              mail.code !== 250 ? mail : refused[0]!.reply
            )
          }
          if (mail.code !== 250) return yield* talk.refusal("MAIL", mail)
          if (accepted.length === 0) return yield* abort(talk.refusal("RCPT", refused[0]?.reply ?? data))
          if (data.code !== 354) return yield* abort(talk.refusal("DATA", data))
          const result: Result = { reply: yield* body(content), accepted, refused }
          return result
        })
    }
    return connection
  })

/**
 * @since 0.1.0
 * @category constructors
 */
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
