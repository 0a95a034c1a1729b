/**
 * smtpd's `MailmanProxy`, generalised: each recipient goes to the first route that matches it
 * (an exact address, a domain, a local-part pattern, or an Effect predicate), and a route's
 * handler is any `MessageHandler` (Maildir, a mailing list, yours). Recipients that match no
 * route go to the fallback (usually `Relay`), or get 550 5.1.1 when there is none.
 *
 * At DATA the body is read once and streamed to every route involved at the same time. SMTP has
 * one reply per message: when nothing was delivered the client gets 4xx if any route failed
 * transiently (so it retries) and the permanent refusal otherwise; when something was, it gets
 * 250 and the routes that failed are reported to `onRefused`. An LMTP client gets one reply per
 * recipient instead: its route's (RFC 2033 §4.2), and nothing goes to `onRefused`.
 *
 * The router is the hop: it puts our `Received:` field on what each route gets (`received:
 * false` leaves that to the routes), naming the recipient when the route has only one, and marks
 * it so that a Maildir or Relay route adds no second one. A message with more than `maxReceived`
 * `Received:` fields (default 50) is refused with `554 5.4.6` for every route (a mail loop).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import type * as Parameters from "../protocol/Parameters.js"
import type * as Session from "../protocol/Session.js"
import * as SmtpError from "../protocol/SmtpError.js"
import { deliver, type Leg, type Routing, view } from "./RouterDelivery.js"
import * as Received from "./Received.js"
import * as Refusals from "./Refusals.js"

/**
 * Which recipients a route takes. Addresses and domains compare without regard to case.
 *
 * @since 0.1.0
 * @category models
 */
export type Matcher<R = never> =
  | { readonly _tag: "Address"; readonly address: string }
  | { readonly _tag: "Domain"; readonly domain: string }
  | { readonly _tag: "LocalPart"; readonly pattern: RegExp; readonly domain?: string | undefined }
  | {
      readonly _tag: "Predicate"
      readonly test: (recipient: string, session: SessionInfo) => Effect.Effect<boolean, never, R>
    }

/**
 * @since 0.1.0
 * @category models
 */
export interface Route<E = never, R = never> {
  readonly match: Matcher<R>
  readonly handler: Layer.Layer<MessageHandler.MessageHandler, E, R>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const address = <E, R>(
  address: string,
  handler: Layer.Layer<MessageHandler.MessageHandler, E, R>
): Route<E, R> => ({
  match: { _tag: "Address", address },
  handler
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const domain = <E, R>(
  domain: string,
  handler: Layer.Layer<MessageHandler.MessageHandler, E, R>
): Route<E, R> => ({
  match: { _tag: "Domain", domain },
  handler
})

/**
 * Local parts matching `pattern` (tested against the part before the last `@`), in `domain` if given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const localPart = <E, R>(
  pattern: RegExp,
  handler: Layer.Layer<MessageHandler.MessageHandler, E, R>,
  options: { readonly domain?: string } = {}
): Route<E, R> => ({ match: { _tag: "LocalPart", pattern, domain: options.domain }, handler })

/**
 * Recipients for which `test` succeeds with true; it may use services (a directory, a database).
 *
 * @since 0.1.0
 * @category constructors
 */
export const when = <E, R, R2>(
  test: (recipient: string, session: SessionInfo) => Effect.Effect<boolean, never, R2>,
  handler: Layer.Layer<MessageHandler.MessageHandler, E, R>
): Route<E, R | R2> => ({ match: { _tag: "Predicate", test }, handler })

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E, R> {
  readonly routes: ReadonlyArray<Route<E, R>>
  readonly fallback?: Layer.Layer<MessageHandler.MessageHandler, E, R> | undefined
  /** Routes that failed after another delivered; default: logged and counted. */
  readonly onRefused?: Refusals.OnRefused | undefined
  /** Put our `Received:` field on what the routes get (default true). */
  readonly received?: boolean | undefined
  /** Refuse (554 5.4.6) a message with more `Received:` fields than this (default 50). */
  readonly maxReceived?: number | undefined
}

const split = (mailbox: string) => {
  const at = mailbox.lastIndexOf("@")
  return at < 0 ? { local: mailbox, domain: "" } : { local: mailbox.slice(0, at), domain: mailbox.slice(at + 1) }
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

interface Transaction {
  readonly from: string
  readonly parameters: Parameters.Parameters
  readonly legs: Map<number, Leg>
}

// One session of the router: its transaction, and the hooks of each route it used in it (a
// route's own per-session form is made in the router's session scope, when first needed; its
// connect and helo hooks are not called: the router answers those).
const routerSession = (routing: Routing): Effect.Effect<MessageHandler.Hooks, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    let transaction: Transaction | undefined = undefined
    const opened = new Map<number, MessageHandler.Hooks>()
    const hooksOf = (index: number, session: SessionInfo) =>
      Effect.suspend(() => {
        const known = opened.get(index)
        if (known !== undefined) return Effect.succeed(known)
        const handler = index === -1 ? routing.fallback! : routing.handlers[index]!
        const made =
          handler.session === undefined
            ? Effect.succeed(handler as MessageHandler.Hooks)
            : Scope.provide(handler.session(session), scope)
        return Effect.map(made, (hooks) => {
          const resolved = MessageHandler.hooksOf(hooks)
          opened.set(index, resolved)
          return resolved
        })
      })
    const reset = (session: SessionInfo) =>
      Effect.suspend(() => {
        const ending = transaction
        transaction = undefined
        if (ending === undefined) return Effect.void
        return Effect.forEach(ending.legs.values(), (leg) => leg.hooks.reset?.(session) ?? Effect.void, {
          discard: true
        })
      })
    const hooks: MessageHandler.Hooks = {
      mail: (session, from, parameters) =>
        Effect.andThen(
          reset(session),
          Effect.sync(() => void (transaction = { from, parameters, legs: new Map() }))
        ),
      // the transaction as it is when the RCPT runs (Effect.gen calls the arrow then)
      rcpt: (session, recipient) => Effect.gen(() => rcptSteps(routing, transaction, hooksOf, session, recipient)),
      data: (session, message) => deliver(routing, session, message, [...(transaction?.legs.values() ?? [])]),
      reset
    }
    return hooks
  })

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* rcptSteps(
  routing: Routing,
  open: Transaction | undefined,
  hooksOf: (index: number, session: SessionInfo) => Effect.Effect<MessageHandler.Hooks, SmtpError.SmtpError>,
  session: SessionInfo,
  recipient: Session.Recipient
) {
  const index = yield* routing.routeOf(recipient.address, session)
  if (open === undefined || index === undefined) return yield* new SmtpError.MailboxNotFound({})
  let leg = open.legs.get(index)
  if (leg === undefined) {
    // a route's handler sees MAIL when its first recipient comes; its refusal is this RCPT's
    const route = yield* hooksOf(index, session)
    yield* route.mail?.(session, open.from, open.parameters) ?? Effect.void
    leg = { hooks: route, recipients: [] }
    open.legs.set(index, leg)
  }
  yield* leg.hooks.rcpt?.(view(session, leg), recipient) ?? Effect.void
  leg.recipients.push(recipient)
}

function* firstRoute<E, R>(
  routes: ReadonlyArray<Route<E, R>>,
  matches: (matcher: Matcher<R>, recipient: string, session: SessionInfo) => Effect.Effect<boolean>,
  fallback: MessageHandler.Handler | undefined,
  recipient: string,
  session: SessionInfo
) {
  for (const [i, route] of routes.entries()) {
    if (yield* matches(route.match, recipient, session)) return i
  }
  return fallback === undefined ? undefined : -1
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(options: Options<E, R>) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    // each route gets its own build, as in Effect 3: Layer.build would reuse what the enclosing
    // layer graph has already built, so a route could share another part's handler instance
    const handlerOf = (layer: Layer.Layer<MessageHandler.MessageHandler, E, R>) =>
      Effect.flatMap(Layer.makeMemoMap, (memoMap) =>
        Effect.map(Layer.buildWithMemoMap(layer, memoMap, scope), (context) =>
          Context.get(context, MessageHandler.MessageHandler)
        )
      )
    const handlers = yield* Effect.forEach(options.routes, (route) => handlerOf(route.handler))
    const fallback = options.fallback === undefined ? undefined : yield* handlerOf(options.fallback)
    const context = yield* Effect.context<R>()
    const onRefused = options.onRefused ?? Refusals.logAndCount

    const matches = (matcher: Matcher<R>, recipient: string, session: SessionInfo): Effect.Effect<boolean> => {
      const { domain, local } = split(recipient)
      switch (matcher._tag) {
        case "Address":
          return Effect.succeed(same(matcher.address, recipient))
        case "Domain":
          return Effect.succeed(same(matcher.domain, domain))
        case "LocalPart":
          return Effect.succeed(
            matcher.pattern.test(local) && (matcher.domain === undefined || same(matcher.domain, domain))
          )
        case "Predicate":
          return Effect.provide(matcher.test(recipient, session), context)
      }
    }

    // the index of the first matching route; -1 for the fallback
    const routeOf = (recipient: string, session: SessionInfo) =>
      Effect.gen(() => firstRoute(options.routes, matches, fallback, recipient, session))

    const routing: Routing = {
      handlers,
      fallback,
      routeOf,
      onRefused,
      received: options.received !== false,
      maxReceived: options.maxReceived ?? Received.defaultMaxReceived
    }
    return MessageHandler.make({ session: () => routerSession(routing) })
  })

/**
 * The router as the server's message handler; route handlers are built once, with the router.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Routes extends ReadonlyArray<Route<any, any>>, FE = never, FR = never>(options: {
  readonly routes: Routes
  readonly fallback?: Layer.Layer<MessageHandler.MessageHandler, FE, FR> | undefined
  readonly onRefused?: Refusals.OnRefused | undefined
  readonly received?: boolean | undefined
  readonly maxReceived?: number | undefined
}): Layer.Layer<MessageHandler.MessageHandler, Route.Error<Routes[number]> | FE, Route.Context<Routes[number]> | FR> =>
  // each route keeps its own error and requirement types; the union is the router's
  Layer.effect(
    MessageHandler.MessageHandler,
    make(options as Options<Route.Error<Routes[number]> | FE, Route.Context<Routes[number]> | FR>)
  )

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Route {
  /** The errors of a route's handler layer. */
  export type Error<T> = T extends Route<infer E, any> ? E : never
  /** What a route needs: its handler layer's requirements and its predicate's. */
  export type Context<T> = T extends Route<any, infer R> ? R : never
}
