/**
 * Waits on the wall clock, not on Effect's `Clock`: for the pauses of background work (a writer
 * gathering a batch, events sent at most so often, a client polling) that a test's `TestClock`
 * must not hold back.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"

/**
 * `ms` milliseconds of real time.
 *
 * @since 0.2.0
 * @category constructors
 */
export const sleep = (ms: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const handle = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(handle))
  })

/**
 * One turn of the event loop, I/O included (`setImmediate`).
 *
 * @since 0.2.0
 * @category constants
 */
export const turn: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})
