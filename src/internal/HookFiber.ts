/**
 * A handler's hook run in a fiber of its own while the session has none (parked, acting on its
 * input inline): MAIL and RCPT hooks, and DATA's once a small message is in. A hook that
 * completes at once is answered inline, as if there were no hook; one that waits leaves the
 * session without a fiber (its transport holds what comes meanwhile) until it lands, answered
 * then, or until the session's fiber is forked first (shutdown), which claims it. Forking the
 * session's fiber for each hook cost more than the hook. The states: docs/sessions.md.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Reply from "../protocol/Reply.js"
import type { Environment } from "./Environment.js"
import { guarded } from "./Guarded.js"
import * as Hooks from "./Hooks.js"

/**
 * What the hooks in flight need from their session (`Live`).
 *
 * @since 0.3.0
 * @category models
 */
export interface Host extends Hooks.Described {
  /** `forkHook` starts the hook's fiber (with the session's log annotations) at once. */
  readonly env: Pick<Environment, "id" | "config" | "spans" | "forkHook">
  /** A hook that waited was answered: the session acts on what came meanwhile, parks or forks. */
  readonly goOn: () => void
  /** Forks the session's fiber (no hook is in flight). */
  readonly wake: () => void
}

// a hook that did not complete at once, and what to do with its outcome
class Flight<A> {
  outcome: Result.Result<A, Reply.Reply> | undefined = undefined
  fiber: Fiber.Fiber<void> | undefined = undefined

  constructor(private readonly answer: (outcome: Result.Result<A, Reply.Reply>) => void) {}

  // a hook whose fiber ended without an outcome failed: 451
  land(): void {
    this.answer(this.outcome ?? Result.fail(Reply.localError))
  }
}

/**
 * A session's hook in flight, if any: one at a time, the session acts on nothing else meanwhile.
 *
 * @since 0.3.0
 * @category models
 */
export class InFlight {
  private flight: Flight<any> | undefined = undefined
  private crash: Effect.Effect<never> | undefined = undefined

  constructor(private readonly host: Host) {}

  /** Is a hook in flight? */
  get busy(): boolean {
    return this.flight !== undefined
  }

  /**
   * Calls the hook `name` (guarded, in a span when the server traces) in its own fiber and
   * answers it: at once when it completes at once, else when it lands.
   */
  launch<A, E>(
    name: string,
    hook: Effect.Effect<A, E>,
    answer: (outcome: Result.Result<A, Reply.Reply>) => void
  ): void {
    const flight = new Flight(answer)
    const fiber = this.host.env.forkHook(
      Effect.map(guarded(Hooks.traced(this.host, name, hook)), (outcome) => {
        flight.outcome = outcome
      })
    )
    if (fiber.pollUnsafe() !== undefined) return flight.land()
    flight.fiber = fiber
    this.flight = flight
    fiber.addObserver(() => this.landed(flight))
  }

  /** What the session's fiber does first, if a hook began without it: it waits for the hook. */
  claim(): Effect.Effect<void> | undefined {
    const { flight, crash } = this
    this.flight = undefined
    this.crash = undefined
    if (flight === undefined) return crash
    const fiber = flight.fiber!
    // interrupted (shutdown's grace is over), it interrupts the hook
    return Effect.map(
      Effect.onInterrupt(Fiber.await(fiber), () => Fiber.interrupt(fiber)),
      () => flight.land()
    )
  }

  private landed(flight: Flight<any>): void {
    // claimed by the session's fiber, forked meanwhile
    if (this.flight !== flight) return
    this.flight = undefined
    try {
      flight.land()
      this.host.goOn()
    } catch (defect) {
      // thrown in the hook fiber's observer it would reach no one: the session's fiber dies of it
      this.crash = Effect.die(defect)
      this.host.wake()
    }
  }
}
