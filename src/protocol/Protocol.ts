/**
 * The protocol as a pure function: `step(config, state, frame)` takes one command frame and
 * says what to do — reply, ask the message handler about a sender or a recipient, start DATA,
 * run a user command, or close. The connection carries the decision out; nothing here
 * performs I/O.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Address from "./Address.js"
import * as Command from "./Command.js"
import type * as Framer from "./Framer.js"
import * as Parameters from "./Parameters.js"
import * as Reply from "./Reply.js"
import * as Session from "./Session.js"

/**
 * What the session offers and its limits.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** Our name in the greeting and in the EHLO reply. */
  readonly hostname: string
  /** Largest message in octets; 0 = no limit (SIZE is then not advertised). */
  readonly maxMessageSize: number
  /** Most recipients in one transaction (RFC 5321 §4.5.3.1.8 asks for at least 100). */
  readonly maxRecipients: number
  /** The client's protocol errors before 421 4.7.0 and close. */
  readonly maxErrors: number
  /** Offer SMTPUTF8 (RFC 6531). */
  readonly smtpUtf8: boolean
  /** Offer 8BITMIME (RFC 6152); off when handlers get decoded text. */
  readonly eightBitMime: boolean
  /** Extra EHLO keywords (from extensions). */
  readonly extensions: ReadonlyArray<string>
  /** Verbs served by user commands, checked before the built-in ones. */
  readonly userVerbs: ReadonlySet<string>
  /** Offer STARTTLS (the platform has a certificate). */
  readonly startTls: boolean
  /** Before TLS, only EHLO, HELO, NOOP, STARTTLS, QUIT and RSET (RFC 3207 §4). */
  readonly requireTls: boolean
  /** SASL mechanisms for AUTH; none = AUTH not offered. */
  readonly authMechanisms: ReadonlyArray<string>
  /** Offer and accept AUTH without TLS. */
  readonly authInsecure: boolean
  /** MAIL only after AUTH (530 5.7.0). */
  readonly requireAuth: boolean
  /** Errors after which every error reply is delayed (Postfix's soft error limit). */
  readonly slowErrorsAfter: number
  /** NOOP, RSET, VRFY, EXPN, HELP allowed before each one counts as an error. */
  readonly maxJunkCommands: number
  /**
   * Refuse paths over RFC 5321's lengths (local part 64, domain 255, path 256 octets): `false`
   * only for legacy senders that exceed them.
   */
  readonly addressLimits: boolean
  /** LMTP (RFC 2033): LHLO instead of HELO/EHLO, one reply per recipient after the data. */
  readonly lmtp: boolean
  /** Offer CHUNKING (BDAT, RFC 3030) and, with 8BITMIME, BINARYMIME (RFC 3030 §3). */
  readonly chunking: boolean
  /** Offer DSN (RFC 3461). */
  readonly dsn: boolean
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (options: { readonly [K in keyof Config]?: Config[K] | undefined } = {}): Config => ({
  hostname: options.hostname ?? "localhost",
  maxMessageSize: options.maxMessageSize ?? 33554432,
  maxRecipients: options.maxRecipients ?? 1000,
  maxErrors: options.maxErrors ?? 20,
  smtpUtf8: options.smtpUtf8 ?? false,
  eightBitMime: options.eightBitMime ?? true,
  extensions: options.extensions ?? [],
  userVerbs: options.userVerbs ?? new Set(),
  startTls: options.startTls ?? false,
  requireTls: options.requireTls ?? false,
  authMechanisms: options.authMechanisms ?? [],
  authInsecure: options.authInsecure ?? false,
  requireAuth: options.requireAuth ?? false,
  slowErrorsAfter: options.slowErrorsAfter ?? 10,
  maxJunkCommands: options.maxJunkCommands ?? 100,
  addressLimits: options.addressLimits ?? true,
  lmtp: options.lmtp ?? false,
  chunking: options.chunking ?? true,
  dsn: options.dsn ?? true
})

/**
 * What the connection does next. `state` is the state to continue with; for `Mail` and `Rcpt`
 * it is the state if the handler refuses, `accepted` the one if it agrees.
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | {
      readonly _tag: "Reply"
      readonly state: Session.SessionState
      readonly reply: Reply.Reply
      /** An error past the soft limit: answer it after a pause. */
      readonly slow?: boolean | undefined
      /** A refused BDAT: its chunk of this many octets follows, to be dropped unread. */
      readonly discard?: number | undefined
    }
  | { readonly _tag: "Close"; readonly state: Session.SessionState; readonly reply: Reply.Reply }
  | {
      readonly _tag: "Mail"
      readonly state: Session.SessionState
      readonly accepted: Session.SessionState
      readonly from: string
      readonly parameters: Parameters.Parameters
    }
  | {
      readonly _tag: "Rcpt"
      readonly state: Session.SessionState
      readonly accepted: Session.SessionState
      readonly recipient: Session.Recipient
    }
  | { readonly _tag: "Data"; readonly state: Session.SessionState; readonly envelope: Session.Envelope }
  /**
   * BDAT (RFC 3030): a chunk of `size` octets follows; `first` when it begins the message,
   * `last` when it ends it. `state` has the transaction marked as chunked.
   */
  | {
      readonly _tag: "Bdat"
      readonly state: Session.SessionState
      readonly envelope: Session.Envelope
      readonly size: number
      readonly last: boolean
      readonly first: boolean
    }
  | { readonly _tag: "User"; readonly state: Session.SessionState; readonly verb: string; readonly argument: string }
  /** Answer 220, then the TLS handshake; the session starts again on the encrypted connection. */
  | { readonly _tag: "StartTls"; readonly state: Session.SessionState; readonly reply: Reply.Reply }
  /** A SASL exchange for this mechanism (one the config offers). */
  | {
      readonly _tag: "Auth"
      readonly state: Session.SessionState
      readonly mechanism: string
      readonly initialResponse: string | undefined
    }

const reply = (state: Session.SessionState, r: Reply.Reply): Decision => ({ _tag: "Reply", state, reply: r })

// a protocol error by the client: counted, and the last one allowed closes the session
const error = (config: Config, state: Session.SessionState, r: Reply.Reply): Decision => {
  const next = Session.countError(state)
  if (next.errors >= config.maxErrors) return { _tag: "Close", state: next, reply: Reply.tooManyErrors }
  return { _tag: "Reply", state: next, reply: r, slow: next.errors > config.slowErrorsAfter }
}

// a junk command: free up to the limit, then an error like any other
const junk = (config: Config, state: Session.SessionState, r: Reply.Reply): Decision => {
  const next = Session.countJunk(state)
  return next.junk > config.maxJunkCommands ? error(config, next, r) : reply(next, r)
}

// a BDAT refused: its chunk is on its way all the same, and must not be read as commands
const refuseChunk = (config: Config, state: Session.SessionState, size: number, r: Reply.Reply): Decision => {
  const decision = error(config, state, r)
  return decision._tag === "Reply" ? { ...decision, discard: size } : decision
}

const bdat = (config: Config, state: Session.SessionState, command: Command.Bdat): Decision => {
  if (!config.chunking || !Session.isEsmtp(state)) return refuseChunk(config, state, command.size, Reply.notImplemented)
  const envelope = state.envelope
  if (envelope === undefined) return refuseChunk(config, state, command.size, Reply.badSequence("Need MAIL command"))
  if (envelope.recipients.length === 0) {
    return refuseChunk(config, state, command.size, Reply.badSequence("Need RCPT command"))
  }
  const next = Session.chunked(state)
  return {
    _tag: "Bdat",
    state: next,
    envelope: next.envelope!,
    size: command.size,
    last: command.last,
    first: envelope.chunked !== true
  }
}

// LMTP has its own greeting: HELO and EHLO are not LMTP (RFC 2033 §4.1)
const useLhlo = Reply.make(500, "5.5.1", "This is an LMTP server: use LHLO")

const greet = (config: Config, state: Session.SessionState, command: Command.Helo | Command.Ehlo | Command.Lhlo) => {
  if (config.lmtp !== (command._tag === "Lhlo")) {
    return error(config, state, config.lmtp ? useLhlo : Reply.unknownCommand)
  }
  const esmtp = command._tag !== "Helo"
  return reply(
    Session.greet(state, { name: command.domain, esmtp }),
    esmtp ? Reply.ehlo(config.hostname, ehloKeywords(config, state)) : Reply.helo(config.hostname)
  )
}

const offersAuth = (config: Config, state: Session.SessionState) =>
  config.authMechanisms.length > 0 && (state.secure || config.authInsecure)

// RFC 3207 §4: what a client may do before TLS when the server requires it
const beforeTls = new Set(["Ehlo", "Helo", "Noop", "StartTls", "Quit", "Rset"])

/**
 * The EHLO keywords offered by `config`.
 *
 * @since 0.1.0
 * @category getters
 */
export const ehloKeywords = (config: Config, state: Session.SessionState = Session.initial): ReadonlyArray<string> => [
  "PIPELINING",
  ...(config.maxMessageSize > 0 ? [`SIZE ${config.maxMessageSize}`] : []),
  ...(config.eightBitMime ? ["8BITMIME"] : []),
  ...(config.smtpUtf8 ? ["SMTPUTF8"] : []),
  ...(config.chunking ? ["CHUNKING"] : []),
  ...(config.chunking && config.eightBitMime ? ["BINARYMIME"] : []),
  ...(config.dsn ? ["DSN"] : []),
  ...(config.startTls && !state.secure ? ["STARTTLS"] : []),
  ...(offersAuth(config, state) ? [`AUTH ${config.authMechanisms.join(" ")}`] : []),
  "ENHANCEDSTATUSCODES",
  ...config.extensions
]

/**
 * The 220 a session opens with: an LMTP server says so (RFC 2033 §4.1's example).
 *
 * @since 0.2.0
 * @category getters
 */
export const greeting = (config: Config): Reply.Reply =>
  config.lmtp ? Reply.make(220, undefined, `${config.hostname} LMTP effect-smtpd`) : Reply.greeting(config.hostname)

// ignoreBOM: a byte-order mark is kept, so "\uFEFFDATA" is an unknown verb, never DATA
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * Decodes a command line's bytes; `undefined` when they are not UTF-8.
 *
 * @since 0.1.0
 * @category decoding
 */
export const lineText = (bytes: Uint8Array): string | undefined => {
  // most command lines are ASCII: build the string directly, cheaper than a decoder call
  if (bytes.length <= 512) {
    let ascii = true
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false
        break
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as Array<number>)
  }
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

/**
 * One step of the session for one command frame.
 *
 * @since 0.1.0
 * @category folding
 */
export const step = (
  config: Config,
  state: Session.SessionState,
  frame: Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>
): Decision => {
  if (frame._tag === "LineTooLong") return error(config, state, Reply.lineTooLong)
  // nothing of a line with a lone LF or CR runs: it could be two commands (Framer's `reject`)
  if (frame.bareLineEnding === true) return error(config, state, Reply.bareLineEndingInCommand)
  const line = lineText(frame.bytes)
  if (line === undefined) return error(config, state, Reply.syntaxError("Command is not valid UTF-8"))
  if (config.userVerbs.size > 0) {
    const { rest, verb } = Command.splitVerb(line)
    if (config.userVerbs.has(verb)) return { _tag: "User", state, verb, argument: rest }
  }
  const decoded = Command.decodeLine(line)
  if (Result.isFailure(decoded)) return error(config, state, decoded.failure)
  return stepCommand(config, state, decoded.success)
}

/**
 * One step of the session for a decoded command.
 *
 * @since 0.1.0
 * @category folding
 */
export const stepCommand = (config: Config, state: Session.SessionState, command: Command.Command): Decision => {
  if (config.requireTls && !state.secure && !beforeTls.has(command._tag)) {
    return error(config, state, Reply.tlsRequired)
  }
  switch (command._tag) {
    case "Helo":
    case "Ehlo":
    case "Lhlo":
      return greet(config, state, command)
    case "Mail": {
      if (state.greeting === undefined) return error(config, state, Reply.badSequence("Send HELO or EHLO first"))
      if (state.envelope !== undefined) return error(config, state, Reply.badSequence("Sender already specified"))
      if (config.requireAuth && state.auth === undefined) return error(config, state, Reply.authRequired)
      // MAIL parameters need EHLO (RFC 5321 §4.1.2)
      const offered: Parameters.Offered = state.greeting.esmtp
        ? { ...config, auth: offersAuth(config, state) }
        : {
            eightBitMime: false,
            smtpUtf8: false,
            auth: false,
            chunking: false,
            dsn: false,
            maxMessageSize: config.maxMessageSize
          }
      const checked = Parameters.checkMail(command.parameters, offered)
      if (Result.isFailure(checked)) return error(config, state, checked.failure)
      if (!checked.success.smtpUtf8 && !Address.isAscii(command.from)) return error(config, state, Reply.utf8Required)
      const long = config.addressLimits ? Address.tooLong(command.from) : undefined
      if (long !== undefined) return error(config, state, Reply.badSender(long))
      return {
        _tag: "Mail",
        state,
        accepted: Session.begin(state, command.from, command.parameters, checked.success),
        from: command.from,
        parameters: command.parameters
      }
    }
    case "Rcpt": {
      const envelope = state.envelope
      if (envelope === undefined) return error(config, state, Reply.badSequence("Need MAIL before RCPT"))
      if (envelope.chunked === true) return error(config, state, Reply.badSequence("RCPT after BDAT"))
      const checked = Parameters.checkRcpt(command.parameters, { dsn: config.dsn && Session.isEsmtp(state) })
      if (Result.isFailure(checked)) return error(config, state, checked.failure)
      if (!envelope.mailOptions.smtpUtf8 && !Address.isAscii(command.to)) {
        return error(config, state, Reply.utf8Required)
      }
      const long = config.addressLimits ? Address.tooLong(command.to) : undefined
      if (long !== undefined) return error(config, state, Reply.badRecipient(long))
      if (envelope.recipients.length >= config.maxRecipients) return error(config, state, Reply.tooManyRecipients)
      const recipient = { address: command.to, parameters: command.parameters, dsn: checked.success }
      return { _tag: "Rcpt", state, accepted: Session.addRecipient(state, recipient), recipient }
    }
    case "Data": {
      const envelope = state.envelope
      if (envelope === undefined) return error(config, state, Reply.badSequence("Need MAIL command"))
      // RFC 5321 §3.3: no accepted recipient → 503 or 554
      if (envelope.chunked === true) return error(config, state, Reply.badSequence("DATA after BDAT"))
      // binary content cannot be dot-stuffed: BDAT only (RFC 3030 §3)
      if (envelope.mailOptions.body === "BINARYMIME") {
        return error(config, state, Reply.badSequence("BODY=BINARYMIME needs BDAT"))
      }
      if (envelope.recipients.length === 0) return error(config, state, Reply.noValidRecipients)
      return { _tag: "Data", state, envelope }
    }
    case "Bdat":
      return bdat(config, state, command)
    case "Rset":
      return junk(config, Session.reset(state), Reply.ok)
    case "Noop":
      return junk(config, state, Reply.ok)
    case "Quit":
      return { _tag: "Close", state, reply: Reply.closing }
    case "Vrfy":
      return junk(config, state, Reply.cannotVerify)
    case "Expn":
      return junk(config, state, Reply.notImplemented)
    case "Help":
      return junk(
        config,
        state,
        Reply.help([
          ...Command.verbs,
          ...(config.lmtp ? ["LHLO"] : []),
          ...(config.chunking ? ["BDAT"] : []),
          ...(config.startTls ? ["STARTTLS"] : []),
          ...(config.authMechanisms.length > 0 ? ["AUTH"] : []),
          ...config.userVerbs
        ])
      )
    case "StartTls":
      if (!config.startTls) return error(config, state, Reply.notImplemented)
      if (state.secure) return error(config, state, Reply.badSequence("TLS already active"))
      return { _tag: "StartTls", state, reply: Reply.readyForTls }
    case "Auth": {
      if (config.authMechanisms.length === 0) return error(config, state, Reply.notImplemented)
      if (!offersAuth(config, state)) return error(config, state, Reply.encryptionRequired)
      // RFC 4954 §4: after EHLO, once, and not during a transaction
      if (state.greeting?.esmtp !== true) return error(config, state, Reply.badSequence("Send EHLO first"))
      if (state.auth !== undefined) return error(config, state, Reply.badSequence("Already authenticated"))
      if (state.envelope !== undefined) {
        return error(config, state, Reply.badSequence("AUTH not permitted during a mail transaction"))
      }
      if (!config.authMechanisms.includes(command.mechanism)) return error(config, state, Reply.unknownMechanism)
      return { _tag: "Auth", state, mechanism: command.mechanism, initialResponse: command.initialResponse }
    }
  }
}
