// Waiting on the real clock from a test that may run under TestClock.
import { Effect } from "effect"
import type { TestClock } from "effect/testing"

/** `effect` on the real clock, also in a live test (where TestClock.withLive finds no TestClock). */
export const onLiveClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.clockWith((clock) => ("withLive" in clock ? (clock as TestClock.TestClock).withLive(effect) : effect))

/** A reply that must come now, not after some delay: fails fast instead of hanging the test. */
export const now = <A>(effect: Effect.Effect<A>) =>
  onLiveClock(Effect.timeoutOrElse(effect, { duration: "2 seconds", orElse: () => Effect.fail("no reply") }))
