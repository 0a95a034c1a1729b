/**
 * DATA's minimum rate (Postfix's `smtpd_min_data_rate`), the same arithmetic for both engines:
 * once `graceMs` has passed since the first read of a message's content, the client must have
 * sent `minRate` bytes for every second, and each read may wait only until it falls behind.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 * @category models
 */
export class DataRate {
  /** When the content's first read began (-1: not yet), and its bytes so far. */
  private start = -1
  private bytes = 0
  /** Does the next read wait only until the client falls behind (not the idle timeout)? */
  bound = false

  /** `minRate` 0: no minimum, every read waits the idle timeout. */
  constructor(
    private readonly minRate: number,
    private readonly graceMs: number,
    private readonly idleMs: number
  ) {}

  /** A message's content begins: the clock starts at its first read. */
  begin(): void {
    this.start = -1
    this.bytes = 0
  }

  /** Bytes of content read. */
  add(bytes: number): void {
    this.bytes += bytes
  }

  /** How long the next read of content may wait; 0: the client is behind already. */
  waitMs(clock: { readonly now: () => number }): number {
    if (this.minRate <= 0) return this.idleMs
    const now = clock.now()
    if (this.start < 0) this.start = now
    const behind = this.start + this.graceMs + (this.bytes / this.minRate) * 1000 - now
    this.bound = behind < this.idleMs
    if (behind <= 0) return 0
    // whole seconds: the socket's timer is re-armed only when the deadline moves by one
    return this.bound ? Math.ceil(behind / 1000) * 1000 : this.idleMs
  }
}
