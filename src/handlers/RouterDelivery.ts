/**
 * The router's delivery at DATA (not part of the public API): the body to every route with
 * recipients at the same time, and the reply (SMTP) or replies (LMTP) that come of it.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Verdicts from "../handler/Verdicts.js"
import * as Reply from "../protocol/Reply.js"
import type * as Session from "../protocol/Session.js"
import * as SmtpError from "../protocol/SmtpError.js"
import { fanOut } from "./FanOut.js"
import * as Received from "./Received.js"
import type * as Refusals from "./Refusals.js"

// one route's part of the transaction in progress, with that route's hooks for the session
export interface Leg {
  readonly hooks: MessageHandler.Hooks
  readonly recipients: Array<Session.Recipient>
}

// what every session of one router shares
export interface Routing {
  readonly handlers: ReadonlyArray<MessageHandler.Handler>
  readonly fallback: MessageHandler.Handler | undefined
  /** The index of the first matching route; -1 for the fallback. */
  readonly routeOf: (recipient: string, session: SessionInfo) => Effect.Effect<number | undefined>
  readonly onRefused: Refusals.OnRefused
  readonly received: boolean
  readonly maxReceived: number
}

const replyOf = (cause: Cause.Cause<unknown>): Reply.Reply => {
  const failure = Cause.findErrorOption(cause)
  return Option.isSome(failure) && SmtpError.isSmtpError(failure.value)
    ? SmtpError.reply(failure.value)
    : Reply.localError
}

// what a route's handler sees: the transaction with its own recipients only
export const view = (session: SessionInfo, leg: Leg): SessionInfo =>
  session.envelope === undefined
    ? session
    : { ...session, envelope: { ...session.envelope, recipients: leg.recipients } }

const messageFor = (message: Message.Message, leg: Leg, body: Message.Message["body"]): Message.Message => ({
  envelope: { ...message.envelope, recipients: leg.recipients },
  body,
  decodeData: message.decodeData
})

// DATA: the body, its hops counted, to every route with recipients at once, each copy with our
// Received: on top; one reply for all (SMTP) or one per recipient (LMTP)
export const deliver = (routing: Routing, session: SessionInfo, message: Message.Message, all: ReadonlyArray<Leg>) =>
  Effect.gen(() => deliverSteps(routing, session, message, all))

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* deliverSteps(routing: Routing, session: SessionInfo, message: Message.Message, all: ReadonlyArray<Leg>) {
  const legs = all.filter((leg) => leg.recipients.length > 0)
  // a loop's 554 5.4.6 travels in the body, which every route passes on as its failure; the
  // body's type names only BodyError, but routes fail with what the body fails with
  // behind another Router, this hop has its field already: each copy carries that one
  const outer = Received.traced(message)
  const body = Received.limitHops(outer?.body ?? message.body, routing.maxReceived) as Message.Message["body"]
  const transaction = Received.id(session)
  const copyOf = (leg: Leg, body: Message.Message["body"]) => {
    const copy = messageFor(message, leg, body)
    if (outer !== undefined) return Effect.succeed(Received.withField(copy, outer.field))
    return routing.received ? Received.trace(session, copy, transaction) : Effect.succeed(copy)
  }
  const run = (leg: Leg, body: Message.Message["body"]) =>
    Effect.flatMap(copyOf(leg, body), (copy) => (leg.hooks.data ?? MessageHandler.acceptAll)(view(session, leg), copy))
  if (legs.length === 1) return yield* run(legs[0]!, body)
  const exits = yield* fanOut(
    body,
    legs.map((leg) => (body: Message.Message["body"]) => run(leg, body))
  )
  // the body itself was bad (too big, bare line endings, client gone): that is the reply
  for (const exit of exits) {
    const failure = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
    if (Option.isSome(failure) && !SmtpError.isSmtpError(failure.value)) return yield* Effect.fail(failure.value)
  }
  const outcomes = legs.flatMap((leg, i) => outcomesOf(leg, exits[i]!))
  if (session.protocol === "lmtp") return inRcptOrder(message, outcomes)
  return yield* oneReply(routing, session, message, outcomes)
}

// each recipient of a route, with its reply: the route's failure, or its verdict for that recipient
interface Outcome {
  readonly address: string
  readonly reply: Reply.Reply
}

const outcomesOf = (
  leg: Leg,
  exit: Exit.Exit<void | Reply.Reply | Verdicts.PerRecipient, unknown>
): ReadonlyArray<Outcome> => {
  if (Exit.isFailure(exit)) {
    const reply = replyOf(exit.cause)
    return leg.recipients.map((r) => ({ address: r.address, reply }))
  }
  const value = exit.value
  return leg.recipients.map((r, i) => ({
    address: r.address,
    reply: Verdicts.isPerRecipient(value)
      ? Verdicts.replies(value, leg.recipients.length)[i]!
      : value instanceof Reply.Reply
        ? value
        : Reply.accepted
  }))
}

// LMTP: the session's recipients in RCPT order, each with its route's reply
const inRcptOrder = (message: Message.Message, outcomes: ReadonlyArray<Outcome>) => {
  const queue = [...outcomes]
  return Verdicts.perRecipient(
    message.envelope.recipients.map((r) => {
      const at = queue.findIndex((o) => o.address === r.address)
      return at < 0 ? Reply.localError : queue.splice(at, 1)[0]!.reply
    })
  )
}

// SMTP: 250 when any recipient got the message (the others to onRefused), else the refusal,
// a transient one first so that the client retries
const oneReply = (routing: Routing, session: SessionInfo, message: Message.Message, outcomes: ReadonlyArray<Outcome>) =>
  Effect.suspend(() => {
    const refused = outcomes.filter((o) => o.reply.code >= 400)
    if (refused.length === outcomes.length) {
      const { reply } = refused.find((o) => o.reply.isTransient) ?? refused[0]!
      return Effect.fail(new SmtpError.Upstream({ code: reply.code, enhanced: reply.enhanced, lines: reply.lines }))
    }
    if (refused.length === 0) return Effect.succeed(Reply.accepted)
    return Effect.as(
      routing.onRefused({ session, mailFrom: message.envelope.mailFrom, recipients: refused }),
      Reply.accepted
    )
  })
