/**
 * The state of one SMTP session: the client's greeting, the mail transaction in progress and
 * the count of protocol errors. Values are immutable; they change once per command, never per
 * line of a message.
 *
 * @since 0.1.0
 */
import type * as Dsn from "./Dsn.js"
import type * as Parameters from "./Parameters.js"

/**
 * One accepted recipient.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recipient {
  readonly address: string
  readonly parameters: Parameters.Parameters
  /** NOTIFY and ORCPT, when the client gave them (RFC 3461). */
  readonly dsn?: Dsn.RcptDsn | undefined
}

/**
 * The envelope of a mail transaction (RFC 5321 §3.3): the reverse-path (`""` for `<>`), the
 * MAIL parameters, and the recipients accepted so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface Envelope {
  readonly mailFrom: string
  readonly mailParameters: Parameters.Parameters
  readonly mailOptions: Parameters.MailOptions
  readonly recipients: ReadonlyArray<Recipient>
  /** The message is coming in BDAT chunks (RFC 3030): DATA, MAIL and RCPT are out of turn. */
  readonly chunked?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Greeting {
  /** The argument of HELO/EHLO. */
  readonly name: string
  /** true after EHLO: ESMTP extensions and enhanced status codes are in use. */
  readonly esmtp: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionState {
  readonly greeting: Greeting | undefined
  readonly envelope: Envelope | undefined
  /** Protocol errors so far. */
  readonly errors: number
  /** NOOP, RSET, VRFY, EXPN and HELP so far (Postfix's junk commands). */
  readonly junk: number
  /** Is the connection encrypted (STARTTLS done, or implicit TLS)? */
  readonly secure: boolean
  /** The identity AUTH established, if any. */
  readonly auth: string | undefined
}

/**
 * A new session, before HELO/EHLO.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial: SessionState = {
  greeting: undefined,
  envelope: undefined,
  errors: 0,
  junk: 0,
  secure: false,
  auth: undefined
}

/**
 * A new session on an encrypted connection; also the state after STARTTLS, which forgets
 * everything the client said before it (RFC 3207 §4.2) but not its errors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const secured = (state: SessionState = initial): SessionState => ({
  greeting: undefined,
  envelope: undefined,
  errors: state.errors,
  junk: state.junk,
  secure: true,
  auth: undefined
})

// transitions build the object field by field: one shape for every state, and cheaper than
// a spread on the per-command path
const make = (
  state: SessionState,
  greeting: Greeting | undefined,
  envelope: Envelope | undefined,
  errors: number
): SessionState => ({
  greeting,
  envelope,
  errors,
  junk: state.junk,
  secure: state.secure,
  auth: state.auth
})

/**
 * HELO/EHLO: the greeting is (re)set and any transaction is dropped (RFC 5321 §4.1.4).
 *
 * @since 0.1.0
 * @category transitions
 */
export const greet = (state: SessionState, greeting: Greeting): SessionState =>
  make(state, greeting, undefined, state.errors)

/**
 * MAIL accepted: a transaction begins.
 *
 * @since 0.1.0
 * @category transitions
 */
export const begin = (
  state: SessionState,
  mailFrom: string,
  mailParameters: Parameters.Parameters,
  mailOptions: Parameters.MailOptions
): SessionState => make(state, state.greeting, { mailFrom, mailParameters, mailOptions, recipients: [] }, state.errors)

/**
 * RCPT accepted: the recipient joins the envelope.
 *
 * @since 0.1.0
 * @category transitions
 */
export const addRecipient = (state: SessionState, recipient: Recipient): SessionState => {
  const envelope = state.envelope
  if (envelope === undefined) return state
  return make(
    state,
    state.greeting,
    {
      mailFrom: envelope.mailFrom,
      mailParameters: envelope.mailParameters,
      mailOptions: envelope.mailOptions,
      recipients: envelope.recipients.concat(recipient)
    },
    state.errors
  )
}

/**
 * The first BDAT of a transaction: the rest of the message comes in chunks.
 *
 * @since 0.2.0
 * @category transitions
 */
export const chunked = (state: SessionState): SessionState => {
  const envelope = state.envelope
  if (envelope === undefined || envelope.chunked === true) return state
  return make(state, state.greeting, { ...envelope, chunked: true }, state.errors)
}

/**
 * RSET, or the end of DATA: the transaction is over, the greeting stays.
 *
 * @since 0.1.0
 * @category transitions
 */
export const reset = (state: SessionState): SessionState =>
  state.envelope === undefined ? state : make(state, state.greeting, undefined, state.errors)

/**
 * One more protocol error by the client.
 *
 * @since 0.1.0
 * @category transitions
 */
export const countError = (state: SessionState): SessionState =>
  make(state, state.greeting, state.envelope, state.errors + 1)

/**
 * Counts a junk command.
 *
 * @since 0.1.0
 * @category transitions
 */
export const countJunk = (state: SessionState): SessionState => ({ ...state, junk: state.junk + 1 })

/**
 * AUTH succeeded.
 *
 * @since 0.1.0
 * @category transitions
 */
export const authenticated = (state: SessionState, identity: string): SessionState => ({ ...state, auth: identity })

/**
 * Are enhanced status codes in use (RFC 2034: only once the client said EHLO)?
 *
 * @since 0.1.0
 * @category getters
 */
export const isEsmtp = (state: SessionState): boolean => state.greeting?.esmtp === true
