/**
 * The deadline of one request (Postfix 3.7+'s `smtpd_per_request_deadline`): a command line or
 * a SASL answer must be complete within `commandDeadline` of its first byte, however the bytes
 * trickle in. The idle timeout still bounds the silence before that byte, and every wait in
 * between; this only shortens a wait while a line is open. Both engines (the fast one's
 * `Reader`, the reference `Wire`) keep one of these, so that they cut a line at the same point.
 *
 * The clock starts at the line's first byte, not when the server starts waiting: a deadline
 * (60 s) shorter than the idle timeout (300 s) would otherwise cut idle clients short.
 *
 * @since 0.1.0
 */
import * as Reply from "../protocol/Reply.js"

/**
 * The reply to a line not complete within the deadline; the session then closes.
 *
 * @since 0.1.0
 * @category constants
 */
export const reply: Reply.Reply = Reply.commandDeadline

/**
 * A source of the time in milliseconds (the session's clock, so that TestClock moves it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Clock {
  readonly now: () => number
}

// an arrival whose time is not read yet: read only if a line stays open (the common chunk
// holds whole lines, and then no clock is read)
const unknown = -2

/**
 * @since 0.1.0
 * @category models
 */
export class CommandDeadline {
  /** When the first byte of the open line arrived; -1: not known yet (it is the last arrival). */
  private lineStart = -1
  /**
   * Bytes pushed in command mode since the last whole line: a line over the length limit is
   * being skipped with none of it buffered, and it is open all the same.
   */
  private unframed = false
  /** When the last chunk arrived (`unknown`: in this callback, not read yet). */
  private arrivedAt = -1
  /** Did the last wait end at the deadline (rather than at the idle timeout)? */
  bound = false

  constructor(
    private readonly deadlineMs: number,
    private readonly idleMs: number
  ) {}

  /** A chunk came, at `at` (`undefined`: now, its time read only if needed). */
  arrived(at?: number): void {
    this.arrivedAt = at ?? unknown
  }

  /** A chunk went into the framer in command mode: a line is open until one is taken. */
  pushed(at?: number): void {
    this.unframed = true
    this.arrivedAt = at ?? unknown
  }

  /** The time of a lazy arrival, before the wait is left to a later callback. */
  settle(clock: Clock): void {
    if (this.arrivedAt === unknown) this.arrivedAt = clock.now()
  }

  /** A line was taken whole (what is left of the chunk starts the next), or DATA began. */
  lineTaken(): void {
    this.unframed = false
    this.lineStart = -1
  }

  /**
   * How long the next read may wait, given the framer's `buffered` bytes: the idle timeout, or
   * less while a line is open; 0 once its deadline has passed. Whole seconds, as DATA's rate:
   * the socket's timer is re-armed only when the deadline moves by one.
   */
  waitMs(buffered: number, clock: Clock): number {
    if (!this.unframed && buffered === 0) {
      this.bound = false
      return this.idleMs
    }
    const now = clock.now()
    if (this.arrivedAt === unknown) this.arrivedAt = now
    if (this.lineStart < 0) this.lineStart = this.arrivedAt
    const left = this.lineStart + this.deadlineMs - now
    if (left <= 0) {
      this.bound = true
      return 0
    }
    const ms = Math.ceil(left / 1000) * 1000
    this.bound = ms < this.idleMs
    return this.bound ? ms : this.idleMs
  }
}
