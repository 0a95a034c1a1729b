// Backoff: Postfix's retry schedule (300 s doubling to 4000 s, give up after 5 days) and the
// delay warning, on fixed numbers.
import { describe, expect, it } from "@effect/vitest"
import * as Backoff from "../../src/queue/Backoff.js"

const s = 1000
const day = 24 * 3600 * s
const t0 = 1_700_000_000_000

describe("Backoff", () => {
  it("has Postfix's defaults", () => {
    expect(Backoff.defaultPolicy).toEqual({
      minBackoffMs: 300 * s,
      maxBackoffMs: 4000 * s,
      lifetimeMs: 5 * day,
      delayWarningMs: undefined
    })
  })

  it("doubles from the minimum and stops at the maximum", () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 50, 5000].map((n) => Backoff.backoffMs(Backoff.defaultPolicy, n) / s)
    expect(waits).toEqual([300, 600, 1200, 2400, 4000, 4000, 4000, 4000, 4000])
  })

  it("schedules the next attempt from now", () => {
    const next = (attempts: number, now: number) =>
      Backoff.nextAttempt(Backoff.defaultPolicy, { createdAt: t0, attempts, now })
    expect(next(1, t0)).toBe(t0 + 300 * s)
    expect(next(2, t0 + 300 * s)).toBe(t0 + 900 * s)
    expect(next(3, t0 + 1000 * s)).toBe(t0 + 2200 * s)
    expect(next(4, t0 + 2200 * s)).toBe(t0 + 4600 * s)
    expect(next(5, t0 + 4600 * s)).toBe(t0 + 8600 * s)
    expect(next(9, t0 + day)).toBe(t0 + day + 4000 * s)
  })

  it("expires at 5 days, the last try at the lifetime's end", () => {
    const next = (now: number) => Backoff.nextAttempt(Backoff.defaultPolicy, { createdAt: t0, attempts: 100, now })
    // 1000 s before the end: the wait (4000 s) is cut to the end
    expect(next(t0 + 5 * day - 1000 * s)).toBe(t0 + 5 * day)
    expect(next(t0 + 5 * day - 1)).toBe(t0 + 5 * day)
    expect(next(t0 + 5 * day)).toBe("expired")
    expect(next(t0 + 6 * day)).toBe("expired")
    expect(next(t0 + 5 * day - 4000 * s)).toBe(t0 + 5 * day)
    expect(next(t0 + 5 * day - 4001 * s)).toBe(t0 + 5 * day - s)
  })

  it("follows a whole life of failures: 300, 600, … then expired at 5 days", () => {
    const times: Array<number> = []
    let now = t0
    for (let attempts = 1; ; attempts++) {
      const next = Backoff.nextAttempt(Backoff.defaultPolicy, { createdAt: t0, attempts, now })
      if (next === "expired") break
      times.push((next - now) / s)
      now = next
    }
    expect(times.slice(0, 6)).toEqual([300, 600, 1200, 2400, 4000, 4000])
    expect(now).toBe(t0 + 5 * day)
    // 4500 s in the first four waits, then 4000 s steps, the last one cut to end at 5 days exactly
    expect(times.length).toBe(4 + Math.ceil((5 * day - 4500 * s) / (4000 * s)))
    expect(times.at(-1)).toBe(((5 * day - 4500 * s) % (4000 * s)) / s)
  })

  it("makes policies from options and refuses bad ones", () => {
    expect(Backoff.make({})).toEqual(Backoff.defaultPolicy)
    const policy = Backoff.make({ minBackoffMs: 10 * s, maxBackoffMs: 60 * s, lifetimeMs: 3600 * s })
    expect([1, 2, 3, 4, 5].map((n) => Backoff.backoffMs(policy, n) / s)).toEqual([10, 20, 40, 60, 60])
    expect(Backoff.nextAttempt(policy, { createdAt: t0, attempts: 1, now: t0 + 3600 * s })).toBe("expired")
    expect(() => Backoff.make({ minBackoffMs: 0 })).toThrow(RangeError)
    expect(() => Backoff.make({ maxBackoffMs: Number.NaN })).toThrow(RangeError)
    expect(() => Backoff.make({ minBackoffMs: 600 * s, maxBackoffMs: 300 * s })).toThrow(RangeError)
    expect(() => Backoff.make({ delayWarningMs: -1 })).toThrow(RangeError)
  })

  it("warns once, after the delay, before expiry, and only when enabled", () => {
    const policy = Backoff.make({ delayWarningMs: 4 * 3600 * s })
    const due = (now: number, warned = false) => Backoff.delayWarningDue(policy, { createdAt: t0, now, warned })
    expect(due(t0 + 4 * 3600 * s - 1)).toBe(false)
    expect(due(t0 + 4 * 3600 * s)).toBe(true)
    expect(due(t0 + 4 * 3600 * s, true)).toBe(false)
    expect(due(t0 + 5 * day)).toBe(false)
    expect(Backoff.delayWarningDue(Backoff.defaultPolicy, { createdAt: t0, now: t0 + 4 * day, warned: false })).toBe(
      false
    )
  })
})
