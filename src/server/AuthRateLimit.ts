/**
 * Failed AUTH attempts counted per client, across its connections (Postfix's
 * `smtpd_client_auth_rate_limit`, which its `anvil` keeps): a client is an IPv4 address or an
 * IPv6 /64. A client with `attempts` failures in the last `window` is refused at AUTH with
 * `454 4.7.0`, its password never checked (no timing signal, no guess that counts), until the
 * oldest of them leaves the window. Trusted networks are never limited.
 *
 * With `--workers`, each worker counts its own failures and reports them (`onFailure`); the
 * primary counts them all and tells every worker which client to refuse until when (`block`).
 *
 * @since 0.1.0
 */
import * as Networks from "./Networks.js"

/**
 * How one process's count meets the others' (the primary of `--workers`): each failure counted
 * here is reported, and refusals decided there are received.
 *
 * @since 0.1.0
 * @category models
 */
export interface Link {
  readonly report: (key: string, at: number) => void
  readonly subscribe: (refuse: (key: string, until: number) => void) => void
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Failures that close the door (default 10). 0: no limit. */
  readonly attempts: number
  /** The sliding window, in milliseconds (default 60 s). */
  readonly windowMs: number
  /** Clients never limited (the server's trusted networks). */
  readonly trusted: ReadonlyArray<Networks.Network>
  /** Told of every failure counted here, with the client's key (for the cluster's primary). */
  readonly onFailure?: ((key: string, at: number) => void) | undefined
}

// the clients followed at once, past which the oldest are forgotten (a flood of addresses must
// not grow the map without end)
const maxClients = 100_000

/**
 * @since 0.1.0
 * @category models
 */
export class AuthRateLimit {
  // failure times per client, oldest first, none older than the window once looked at
  private readonly failures = new Map<string, Array<number>>()
  // refusals decided elsewhere (the cluster's primary): client → until
  private readonly blocks = new Map<string, number>()

  constructor(readonly options: Options) {}

  /** The client `address` belongs to, or `undefined` when it is not limited. */
  keyOf(address: string): string | undefined {
    if (this.options.attempts <= 0 || Networks.contains(this.options.trusted, address)) return undefined
    return Networks.clientKey(address)
  }

  /** Is AUTH from `address` refused now? */
  isRefused(address: string, now: number): boolean {
    const key = this.keyOf(address)
    if (key === undefined) return false
    const until = this.blocks.get(key)
    if (until !== undefined) {
      if (until > now) return true
      this.blocks.delete(key)
    }
    return this.recent(key, now).length >= this.options.attempts
  }

  /** Counts a failed attempt from `address`. */
  failed(address: string, now: number): void {
    const key = this.keyOf(address)
    if (key === undefined) return
    this.count(key, now)
    this.options.onFailure?.(key, now)
  }

  /**
   * Counts a failure reported for `key` (from another process); the time until which the client
   * is refused, when it now is.
   */
  count(key: string, at: number): number | undefined {
    const times = this.recent(key, at)
    times.push(at)
    if (!this.failures.has(key)) {
      if (this.failures.size >= maxClients) this.failures.delete(this.failures.keys().next().value!)
      this.failures.set(key, times)
    }
    return times.length >= this.options.attempts
      ? times[times.length - this.options.attempts]! + this.options.windowMs
      : undefined
  }

  /** Refuses `key` until `until` (a decision of the cluster's primary). */
  block(key: string, until: number): void {
    this.blocks.set(key, until)
  }

  // the client's failures within the window before `now`, older ones dropped
  private recent(key: string, now: number): Array<number> {
    const times = this.failures.get(key) ?? []
    let old = 0
    while (old < times.length && times[old]! <= now - this.options.windowMs) old++
    if (old > 0) times.splice(0, old)
    return times
  }
}
