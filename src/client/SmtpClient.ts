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
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Command from "../protocol/Command.js"
import * as Authentication from "./Authentication.js"
import { type ClientError, UpstreamUnavailable } from "./ClientError.js"
import * as Connection from "./Connection.js"
import * as Conversation from "./Conversation.js"
import * as Dialer from "./Dialer.js"
import * as Extensions from "./Extensions.js"
import * as TlsLevel from "./TlsLevel.js"
import * as Transfer from "./Transfer.js"

// the connection's models, moved to their own module, stay `SmtpClient.Connection` etc. for users
export type { Connection, Envelope, RecipientReply, Result } from "./Connection.js"
export type { TlsLevel } from "./TlsLevel.js"

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
  /**
   * How much TLS to insist on, as Postfix names it (`TlsLevel`): `none`, `may` (the default:
   * STARTTLS when offered, the certificate not checked, plain text when the handshake fails),
   * `encrypt`, `verify` or `secure` (TLS or no delivery; the last two check the certificate).
   */
  readonly security?: TlsLevel.TlsLevel | undefined
  /**
   * The older form of `security`: `off` is `none`, `opportunistic` is `may`, `required` is
   * `verify` (`encrypt` with `tls.rejectUnauthorized: false`). `security` wins.
   */
  readonly startTls?: "opportunistic" | "required" | "off" | undefined
  /** TLS from the first byte (port 465, RFC 8314), checked as `security` says (`may` and `encrypt`: not checked). */
  readonly implicitTls?: boolean | undefined
  /** Trusted CAs and the name to check, for `verify` and `secure`. */
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
 * @since 0.1.0
 * @category tags
 */
export class SmtpClient extends Context.Service<
  SmtpClient,
  {
    /** Connects and greets; the session ends (QUIT, close) with the scope. */
    readonly connect: (options: Options) => Effect.Effect<Connection.Connection, ClientError, Scope.Scope>
  }
>()("effect-smtpd/SmtpClient") {}

const crlf = (command: Command.Command) => `${Command.encodeLine(command)}\r\n`

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

// a STARTTLS handshake that failed at level `may`: the message goes in plain text instead
class HandshakeFailed extends Data.TaggedError("HandshakeFailed")<{ readonly error: ClientError }> {}

// the greeting, hello, STARTTLS and AUTH: a session ready for mail, with what the server offers
const open = (dialer: Dialer.Dialer["Service"], options: Options, limit: Limit) => {
  const level = TlsLevel.of(options)
  // (no handshake at level none, so no HandshakeFailed from it)
  const plain = Effect.catchTag(openAt(dialer, options, limit, "none"), "HandshakeFailed", ({ error }) =>
    Effect.fail(error)
  )
  return Effect.catchTag(openAt(dialer, options, limit, level), "HandshakeFailed", ({ error }) =>
    Effect.andThen(
      Effect.logWarning(
        `${options.host}: TLS failed (${error._tag === "UpstreamUnavailable" ? error.detail : error._tag}); delivering without TLS (TLS level may)`
      ),
      plain
    )
  )
}

const openAt = (dialer: Dialer.Dialer["Service"], options: Options, limit: Limit, level: TlsLevel.TlsLevel) =>
  Effect.gen(function* () {
    const tls = TlsLevel.tlsOptions(level, options.host, options.tls)
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

    if (level !== "none" && !talk.secure) {
      if (!extensions.has("STARTTLS")) {
        if (TlsLevel.required(level)) {
          return yield* new UpstreamUnavailable({ reason: "tls", detail: `${options.host} does not offer STARTTLS` })
        }
      } else {
        const reply = yield* talk.command("STARTTLS\r\n", limit("command"))
        if (reply.code === 220) {
          yield* Effect.catch(
            talk.startTls(tls, limit("command")),
            (error): Effect.Effect<never, ClientError | HandshakeFailed> =>
              level === "may"
                ? Effect.andThen(talk.abandon, Effect.fail(new HandshakeFailed({ error })))
                : Effect.fail(error)
          )
          extensions = yield* hello(talk, options, limit)
        } else if (TlsLevel.required(level)) {
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

const connect = (dialer: Dialer.Dialer["Service"], options: Options) =>
  Effect.gen(function* () {
    const timeouts = { ...defaultTimeouts, ...options.timeouts }
    const limit = (key: keyof Timeouts) => Duration.fromInputUnsafe(timeouts[key])
    const { talk, extensions } = yield* open(dialer, options, limit)
    return new Connection.ClientConnection(talk, extensions, {
      lmtp: options.lmtp ?? false,
      chunking: options.chunking ?? true,
      chunkSize: options.chunkSize ?? Transfer.defaultChunkSize,
      limit
    })
  })

export const make: Effect.Effect<SmtpClient["Service"], never, Dialer.Dialer> = Effect.map(Dialer.Dialer, (dialer) =>
  SmtpClient.of({
    connect: (options) =>
      connect(dialer, options).pipe(
        Effect.withSpan("smtp.client.connect", {
          kind: "client",
          attributes: { "server.address": options.host, "server.port": options.port ?? 25 }
        })
      )
  })
)

/**
 * The client over whatever `Dialer` is provided (`NodeSmtpClient.layer` gives the Node one).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<SmtpClient, never, Dialer.Dialer> = Layer.effect(SmtpClient, make)
