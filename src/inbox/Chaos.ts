/**
 * Mailpit's chaos triggers, for testing how an application copes when mail is refused: with
 * chaos enabled (`--enable-chaos`), MAIL (`Sender`), each RCPT (`Recipient`) and AUTH
 * (`Authentication`) fail with the trigger's code, at its probability in percent. Set through the
 * API (`PUT /api/v1/chaos`); all off at start. A service, shared by the SMTP side and the API.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import * as Authenticator from "../auth/Authenticator.js"
import * as SmtpError from "../protocol/SmtpError.js"

/**
 * One trigger: the reply code it fails with (400 to 599), and how often, in percent (0 to 100).
 *
 * @since 0.2.0
 * @category models
 */
export interface Trigger {
  readonly ErrorCode: number
  readonly Probability: number
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Triggers {
  readonly Sender: Trigger
  readonly Recipient: Trigger
  readonly Authentication: Trigger
}

/**
 * Which command a trigger fails.
 *
 * @since 0.2.0
 * @category models
 */
export type Kind = keyof Triggers

const kinds: ReadonlyArray<Kind> = ["Sender", "Recipient", "Authentication"]

/**
 * A trigger that never fires (Mailpit's default code, probability 0).
 *
 * @since 0.2.0
 * @category constants
 */
export const off: Trigger = { ErrorCode: 451, Probability: 0 }

/**
 * Every trigger off.
 *
 * @since 0.2.0
 * @category constants
 */
export const allOff: Triggers = { Sender: off, Recipient: off, Authentication: off }

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** Chaos was enabled at start: only then are triggers set, and fired. */
  readonly enabled: boolean
  readonly triggers: Effect.Effect<Triggers>
  /** Sets the triggers: the ones not given are turned off (as Mailpit does). */
  readonly set: (triggers: Partial<Triggers>) => Effect.Effect<Triggers>
  /** Fails with the `kind` trigger's reply, when it fires this time. */
  readonly roll: (kind: Kind) => Effect.Effect<void, SmtpError.Custom>
}

/**
 * @since 0.2.0
 * @category services
 */
export class Chaos extends Context.Service<Chaos, Service>()("effect-smtpd/Chaos") {}

const texts: Record<Kind, string> = {
  Sender: "Chaos: the sender refused, as the inbox's chaos trigger asks",
  Recipient: "Chaos: the recipient refused, as the inbox's chaos trigger asks",
  Authentication: "Chaos: authentication refused, as the inbox's chaos trigger asks"
}

/**
 * The reply a trigger fails with.
 *
 * @since 0.2.0
 * @category constructors
 */
export const failure = (kind: Kind, trigger: Trigger): SmtpError.Custom =>
  new SmtpError.Custom({ code: trigger.ErrorCode, enhanced: `${String(trigger.ErrorCode)[0]}.0.0`, text: texts[kind] })

/**
 * The chaos service, `enabled` or not.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (enabled: boolean): Effect.Effect<Service> =>
  Effect.map(Ref.make(allOff), (ref) => ({
    enabled,
    triggers: Ref.get(ref),
    set: (triggers) => Ref.updateAndGet(ref, () => ({ ...allOff, ...triggers })),
    roll: (kind) =>
      enabled
        ? Effect.flatMap(Ref.get(ref), (triggers) => {
            const trigger = triggers[kind]
            if (trigger.Probability <= 0) return Effect.void
            return Effect.flatMap(Random.nextIntBetween(0, 100, { halfOpen: true }), (draw) =>
              draw < trigger.Probability ? Effect.fail(failure(kind, trigger)) : Effect.void
            )
          })
        : Effect.void
  }))

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (enabled: boolean): Layer.Layer<Chaos> => Layer.effect(Chaos, make(enabled))

/**
 * The `Authenticator` under it, with the `Authentication` trigger in front: when it fires, AUTH
 * fails with its code before the credentials are looked at.
 *
 * @since 0.2.0
 * @category layers
 */
export const guardAuthentication: Layer.Layer<Authenticator.Authenticator, never, Authenticator.Authenticator | Chaos> =
  Layer.effect(
    Authenticator.Authenticator,
    Effect.gen(function* () {
      const inner = yield* Authenticator.Authenticator
      const chaos = yield* Chaos
      return {
        mechanisms: inner.mechanisms,
        authenticate: (credentials, session) =>
          Effect.andThen(chaos.roll("Authentication"), inner.authenticate(credentials, session))
      }
    })
  )

// a trigger as given, its keys matched without regard to case; undefined when out of range
const triggerOf = (value: unknown): Trigger | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const field = (name: string) => Object.entries(value).find(([key]) => key.toLowerCase() === name)?.[1]
  const code = field("errorcode")
  const probability = field("probability")
  if (!Number.isInteger(code) || (code as number) < 400 || (code as number) > 599) return undefined
  if (!Number.isInteger(probability) || (probability as number) < 0 || (probability as number) > 100) return undefined
  return { ErrorCode: code as number, Probability: probability as number }
}

/**
 * The triggers of a `PUT /api/v1/chaos` body (its keys matched without regard to case, as
 * Mailpit's decoder does), or what is wrong with them.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (body: Readonly<Record<string, unknown>>): Result.Result<Partial<Triggers>, string> => {
  const triggers: { -readonly [K in Kind]?: Trigger } = {}
  for (const [key, value] of Object.entries(body)) {
    const kind = kinds.find((k) => k.toLowerCase() === key.toLowerCase())
    if (kind === undefined) return Result.fail(`unknown trigger ${JSON.stringify(key)}`)
    if (value === null) continue
    const trigger = triggerOf(value)
    if (trigger === undefined) {
      return Result.fail(`${kind}: ErrorCode must be a whole number from 400 to 599, Probability from 0 to 100`)
    }
    triggers[kind] = trigger
  }
  return Result.succeed(triggers)
}
