/**
 * One whole mail transaction (`SmtpClient.Connection.send`): the envelope pipelined when the
 * server offers PIPELINING (RFC 2920 §3.1), each recipient's fate, the content by DATA or BDAT,
 * and with LMTP one reply per accepted recipient after it (RFC 2033 §4.2).
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as EffectResult from "effect/Result"
import type * as Stream from "effect/Stream"
import type * as Parameters from "../protocol/Parameters.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"
import { type ClientError, toSmtpError, UpstreamRefused } from "./ClientError.js"
import type * as Conversation from "./Conversation.js"

/**
 * What a transaction needs of its connection.
 *
 * @since 0.2.0
 * @category models
 */
export interface Link {
  readonly talk: Conversation.Conversation
  readonly pipelining: boolean
  readonly lmtp: boolean
  /** BDAT rather than DATA. */
  readonly chunking: boolean
  readonly timeouts: {
    readonly command: Duration.Duration
    readonly mail: Duration.Duration
    readonly rcpt: Duration.Duration
    readonly dataInit: Duration.Duration
    readonly dataEnd: Duration.Duration
  }
  /** MAIL's line, with the parameters the server can take, or the refusal a server would give. */
  readonly mailLine: (
    from: string,
    parameters: Parameters.Parameters,
    recipients: ReadonlyArray<string>
  ) => Effect.Effect<string, ClientError>
  readonly rcptLine: (to: string, parameters: Parameters.Parameters) => Effect.Effect<string, ClientError>
  /**
   * The content (after DATA's 354 unless chunking), then the replies to its end for `count`
   * accepted recipients.
   */
  readonly transfer: <E, R>(
    content: Stream.Stream<Uint8Array, E, R>,
    count: number
  ) => Effect.Effect<ReadonlyArray<Reply.Reply>, ClientError | E, R>
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Recipient {
  readonly address: string
  readonly reply: Reply.Reply
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Outcome {
  readonly reply: Reply.Reply
  readonly accepted: ReadonlyArray<string>
  readonly refused: ReadonlyArray<Recipient>
}

/**
 * Each recipient accepted at RCPT with its reply to the end of the content: its own with LMTP,
 * the one reply with SMTP.
 *
 * @since 0.2.0
 * @category combinators
 */
export const perRecipient = (
  lmtp: boolean,
  addresses: ReadonlyArray<string>,
  replies: ReadonlyArray<Reply.Reply>
): ReadonlyArray<Recipient> => addresses.map((address, i) => ({ address, reply: replies[lmtp ? i : 0]! }))

interface Envelope {
  readonly mailFrom: string
  readonly mailParameters: Parameters.Parameters
  readonly recipients: ReadonlyArray<{ readonly address: string; readonly parameters: Parameters.Parameters }>
}

// the commands' lines; a recipient whose line cannot be sent is refused here
const lines = (link: Link, envelope: Envelope) =>
  Effect.gen(function* () {
    const mail = yield* link.mailLine(
      envelope.mailFrom,
      envelope.mailParameters,
      envelope.recipients.map((r) => r.address)
    )
    const targets: Array<{ readonly address: string; readonly line: string }> = []
    const refused: Array<Recipient> = []
    for (const { address, parameters } of envelope.recipients) {
      const line = yield* Effect.result(link.rcptLine(address, parameters))
      if (EffectResult.isSuccess(line)) targets.push({ address, line: line.success })
      else refused.push({ address, reply: SmtpError.reply(toSmtpError(line.failure)) })
    }
    if (targets.length === 0) {
      return yield* new UpstreamRefused({ command: "RCPT", reply: refused[0]?.reply ?? Reply.noValidRecipients })
    }
    return { mail, targets, refused }
  })

// MAIL, RCPT (and DATA, unless chunking): the recipients the server took, or the failure;
// ready for the content when it succeeds
const envelopeStep = (link: Link, envelope: Envelope) =>
  Effect.gen(function* () {
    const { talk, timeouts, pipelining } = link
    const { mail: mailCommand, targets, refused } = yield* lines(link, envelope)
    const commands = [mailCommand, ...targets.map((target) => target.line), ...(link.chunking ? [] : ["DATA\r\n"])]
    // with PIPELINING the whole envelope goes in one write (RFC 2920 §3.1)
    if (pipelining) yield* talk.write(commands.join(""), timeouts.command)
    const step = (i: number, timeout: Duration.Duration) =>
      pipelining ? talk.read(timeout) : talk.command(commands[i]!, timeout)
    const mail = yield* step(0, timeouts.mail)
    if (!pipelining && mail.code !== 250) return yield* talk.refusal("MAIL", mail)
    const accepted: Array<string> = []
    for (const [i, target] of targets.entries()) {
      const reply = yield* step(i + 1, timeouts.rcpt)
      if (reply.code === 250 || reply.code === 251) accepted.push(target.address)
      else refused.push({ address: target.address, reply })
    }
    // MAIL was taken: a transaction that goes no further is closed with RSET
    const abort = (error: ClientError) =>
      Effect.andThen(Effect.ignore(talk.expect("RSET\r\n", timeouts.command, 250)), Effect.fail(error))
    if (!pipelining && accepted.length === 0) return yield* abort(talk.refusal("RCPT", refused[0]!.reply))
    const data = link.chunking ? undefined : yield* step(commands.length - 1, timeouts.dataInit)
    // a pipelining server may still say 354 when every RCPT failed: an empty message ends it
    if (data?.code === 354 && (mail.code !== 250 || accepted.length === 0)) {
      yield* talk.expect(".\r\n", timeouts.dataEnd, 250).pipe(Effect.ignore)
      return yield* talk.refusal(mail.code !== 250 ? "MAIL" : "RCPT", mail.code !== 250 ? mail : refused[0]!.reply)
    }
    if (mail.code !== 250) return yield* talk.refusal("MAIL", mail)
    if (accepted.length === 0) return yield* abort(talk.refusal("RCPT", refused[0]?.reply ?? data ?? mail))
    if (data !== undefined && data.code !== 354) return yield* abort(talk.refusal("DATA", data))
    return { accepted, refused }
  })

/**
 * The whole transaction. With SMTP a refusal of the content fails it; with LMTP each accepted
 * recipient's reply decides its fate, and `reply` is the first 2xx (else the first refusal).
 *
 * @since 0.2.0
 * @category combinators
 */
export const send = <E, R>(
  link: Link,
  envelope: Envelope,
  content: Stream.Stream<Uint8Array, E, R>
): Effect.Effect<Outcome, ClientError | E, R> =>
  Effect.gen(function* () {
    const { accepted, refused } = yield* envelopeStep(link, envelope)
    const replies = yield* link.transfer(content, accepted.length)
    if (!link.lmtp) {
      const reply = yield* link.talk.check("end of data", replies[0]!, 250)
      return { reply, accepted, refused }
    }
    const delivered: Array<Recipient> = []
    const later: Array<Recipient> = []
    for (const recipient of perRecipient(true, accepted, replies)) {
      ;(recipient.reply.code < 300 ? delivered : later).push(recipient)
    }
    return {
      reply: (delivered[0] ?? later[0]!).reply,
      accepted: delivered.map((recipient) => recipient.address),
      refused: [...refused, ...later]
    }
  })
