/**
 * A transport's side of a parked session (`Transport.Parking`), shared by the transports: whom
 * to hand chunks to and whom to wake, and what the session's fiber reads first once woken.
 * NodeTransport also uses it for a fiber's read that acts inline (`Transport.Inline`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export class ParkedSession {
  private take: Transport.Inline | undefined = undefined
  private onWake: (() => void) | undefined = undefined
  private crashed: { readonly defect: unknown } | undefined = undefined
  private timedOut = false

  /** `onStop` runs whenever the park ends (a transport's idle timer, say). */
  constructor(private readonly onStop?: () => void) {}

  /** Is a session parked here? */
  isParked(): boolean {
    return this.take !== undefined
  }

  start(take: Transport.Inline, wake: () => void): void {
    this.take = take
    this.onWake = wake
  }

  /** Ends the park without waking the session. */
  stop(): void {
    this.take = undefined
    this.onWake = undefined
    this.onStop?.()
  }

  /** Ends the park and wakes the session (once). */
  wake(): void {
    const wake = this.onWake
    this.stop()
    wake?.()
  }

  /**
   * Hands a chunk to the parked session: the idle timeout for the next one, or `undefined` when
   * the session woke (or ended) on it. A defect it throws wakes it too, never reaching the
   * transport's event: its fiber's next read dies with it.
   */
  hand(chunk: Uint8Array): number | undefined {
    const take = this.take
    if (take === undefined) return undefined
    let next: number | undefined
    try {
      next = take(chunk)
    } catch (defect) {
      this.crashed = { defect }
      this.wake()
      return undefined
    }
    // the session ended (or woke) in its inline handling
    if (this.take === undefined) return undefined
    if (next === undefined) this.wake()
    return next
  }

  /** The idle timeout fired: a parked session wakes, and its fiber's next read is the timeout. */
  timeout(): void {
    if (this.take === undefined) return
    this.timedOut = true
    this.wake()
  }

  /** What the woken fiber's next read must give before any input, if anything. */
  firstRead(): Effect.Effect<never, Transport.ReadTimeout> | undefined {
    if (this.crashed !== undefined) return Effect.die(this.crashed.defect)
    if (!this.timedOut) return undefined
    this.timedOut = false
    return Effect.fail(new Transport.ReadTimeout())
  }
}
