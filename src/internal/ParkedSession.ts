/**
 * A transport's side of a session that acts on input in the transport's callback, shared by the
 * transports: to whom chunks go (`Transport.Inline`), whom to wake when it needs its fiber, and
 * what the fiber reads first once woken. Used for a parked session (`Transport.Parking`) and
 * for a fiber's read that acts inline (`Transport.readInline`). The states: docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Transport from "./Transport.js"

/**
 * Whom a park's end wakes: the parked session itself, or the transport's waiting read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Waker {
  readonly wake: () => void
}

// a defect thrown by a session's inline handling, kept for its fiber's next read
class Crash {
  constructor(readonly defect: unknown) {}
}

/**
 * @since 0.1.0
 * @category models
 */
export class ParkedSession {
  private inline: Transport.Inline | undefined = undefined
  private waker: Waker | undefined = undefined
  private crashed: Crash | undefined = undefined
  private timedOut = false

  /** `onStop` runs whenever the park ends (a transport's idle timer, say). */
  constructor(private readonly onStop?: () => void) {}

  /** Is a session parked here? */
  isParked(): boolean {
    return this.inline !== undefined
  }

  start(inline: Transport.Inline, waker: Waker): void {
    this.inline = inline
    this.waker = waker
  }

  /** Ends the park without waking the session. */
  stop(): void {
    this.inline = undefined
    this.waker = undefined
    this.onStop?.()
  }

  /** Ends the park and wakes the session (once). */
  wake(): void {
    const waker = this.waker
    this.stop()
    waker?.wake()
  }

  /**
   * Hands a chunk to the parked session. True: it handled the chunk and stays parked, its next
   * chunk due within `waitMs()`; false: it woke (or ended) on it. A defect it throws wakes it
   * too, never reaching the transport's event: its fiber's next read dies with it.
   */
  hand(chunk: Uint8Array): boolean {
    const inline = this.inline
    if (inline === undefined) return false
    let taken: Transport.Taken
    try {
      taken = inline.take(chunk)
    } catch (defect) {
      this.crashed = new Crash(defect)
      this.wake()
      return false
    }
    // the session ended (or woke) in its inline handling
    if (this.inline === undefined) return false
    if (taken === "Handled") return true
    this.wake()
    return false
  }

  /** How long to wait for the next chunk, once `hand` answered true. */
  waitMs(): number {
    return this.inline?.waitMs() ?? 0
  }

  /** The idle timeout fired: a parked session wakes, and its fiber's next read is the timeout. */
  timeout(): void {
    if (this.inline === undefined) return
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
