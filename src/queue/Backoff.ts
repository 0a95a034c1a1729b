/**
 * When the queue tries a deferred message again, when it gives up, and when it warns the sender
 * of a delay: Postfix's schedule (`minimal_backoff_time` 300 s, `maximal_backoff_time` 4000 s,
 * `maximal_queue_lifetime` 5 days, `delay_warning_time` off), as pure functions of the clock.
 *
 * @since 0.2.0
 */

/**
 * The retry schedule, in milliseconds.
 *
 * @since 0.2.0
 * @category models
 */
export interface RetryPolicy {
  /** The wait after the first failed attempt; each further failure doubles it. */
  readonly minBackoffMs: number
  /** The longest wait between two attempts. */
  readonly maxBackoffMs: number
  /** How long after it was queued a message is given up (bounced). */
  readonly lifetimeMs: number
  /** How long after it was queued the sender is warned of the delay; `undefined`: never. */
  readonly delayWarningMs: number | undefined
}

const second = 1000

/**
 * Postfix's defaults: 300 s, 4000 s, 5 days, no delay warning.
 *
 * @since 0.2.0
 * @category constructors
 */
export const defaultPolicy: RetryPolicy = {
  minBackoffMs: 300 * second,
  maxBackoffMs: 4000 * second,
  lifetimeMs: 5 * 24 * 3600 * second,
  delayWarningMs: undefined
}

const positive = (name: string, value: number): number => {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`)
  return value
}

/**
 * A policy from options (`--retry-min`, `--retry-max`, `--queue-lifetime`), the defaults for
 * what is left out. Throws a `RangeError` for a value that is not positive or a maximum below the
 * minimum (Postfix refuses both at start-up too).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: {
  readonly minBackoffMs?: number | undefined
  readonly maxBackoffMs?: number | undefined
  readonly lifetimeMs?: number | undefined
  readonly delayWarningMs?: number | undefined
}): RetryPolicy => {
  const minBackoffMs = positive("minBackoffMs", options.minBackoffMs ?? defaultPolicy.minBackoffMs)
  const maxBackoffMs = positive("maxBackoffMs", options.maxBackoffMs ?? defaultPolicy.maxBackoffMs)
  if (maxBackoffMs < minBackoffMs) {
    throw new RangeError(`maxBackoffMs (${maxBackoffMs}) is below minBackoffMs (${minBackoffMs})`)
  }
  return {
    minBackoffMs,
    maxBackoffMs,
    lifetimeMs: positive("lifetimeMs", options.lifetimeMs ?? defaultPolicy.lifetimeMs),
    delayWarningMs:
      options.delayWarningMs === undefined ? undefined : positive("delayWarningMs", options.delayWarningMs)
  }
}

/**
 * The wait after `attempts` failed attempts: the minimum after the first, doubled after each
 * further one, capped at the maximum (300, 600, 1200, 2400, 4000, 4000, … s by default).
 *
 * Postfix derives the wait from the message's age, clamped to the same bounds; with tries on
 * time that doubles too, and counting attempts keeps the schedule independent of how late a
 * worker ran.
 *
 * @since 0.2.0
 * @category utils
 */
export const backoffMs = (policy: RetryPolicy, attempts: number): number => {
  const exponent = Math.max(0, Math.floor(attempts) - 1)
  // 2 ** exponent reaches Infinity for a huge count, which the cap absorbs
  return Math.min(policy.maxBackoffMs, policy.minBackoffMs * 2 ** exponent)
}

/**
 * When to try a message again after its `attempts`-th failed attempt at `now`, or `"expired"`
 * once its lifetime (from `createdAt`) is over: then it is bounced. A retry is never scheduled
 * past the lifetime's end: the last one is at that very moment, and if it fails too the message
 * has expired.
 *
 * @since 0.2.0
 * @category utils
 */
export const nextAttempt = (
  policy: RetryPolicy,
  options: { readonly createdAt: number; readonly attempts: number; readonly now: number }
): number | "expired" => {
  const end = options.createdAt + policy.lifetimeMs
  if (options.now >= end) return "expired"
  return Math.min(options.now + backoffMs(policy, options.attempts), end)
}

/**
 * Is a delay warning due: the policy has one, it was not sent yet (`warned`), the message is at
 * least `delayWarningMs` old and not yet expired (an expired message gets a failure notice
 * instead)? Whether the recipient wants it is `Bounce.shouldReport("delay", notify)`.
 *
 * @since 0.2.0
 * @category utils
 */
export const delayWarningDue = (
  policy: RetryPolicy,
  options: { readonly createdAt: number; readonly now: number; readonly warned: boolean }
): boolean =>
  policy.delayWarningMs !== undefined &&
  !options.warned &&
  options.now >= options.createdAt + policy.delayWarningMs &&
  options.now < options.createdAt + policy.lifetimeMs
