import { afterEach, expect, it } from "@effect/vitest"
import { constants, PerformanceObserver } from "node:perf_hooks"
import * as ReadBuffers from "../../src/node/ReadBuffers.js"

const MiB = 1024 * 1024

// the young-generation collections that ran while `reads` was counted (Node reports every
// collection as a "gc" performance entry, delivered after the current task)
const minorCollectionsDuring = async (reads: ReadonlyArray<number>) => {
  let minor = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (
        (entry as unknown as { readonly detail: { readonly kind: number } }).detail.kind ===
        constants.NODE_PERFORMANCE_GC_MINOR
      )
        minor++
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  for (const bytes of reads) ReadBuffers.read(bytes)
  await new Promise((resolve) => setTimeout(resolve, 50))
  observer.disconnect()
  return minor
}

afterEach(() => ReadBuffers.collectEvery(0))

it("collects nothing while it is off, which is the default", async () => {
  expect(await minorCollectionsDuring(Array.from({ length: 160 }, () => 64 * 1024))).toBeLessThan(3)
  ReadBuffers.collectEvery(MiB)
  ReadBuffers.collectEvery(0)
  expect(await minorCollectionsDuring(Array.from({ length: 160 }, () => 64 * 1024))).toBeLessThan(3)
})

it("collects the young generation after every so many bytes read, and not before", async () => {
  ReadBuffers.collectEvery(MiB)
  // 64 KiB chunks as sockets deliver them: 10 MiB is 10 collections
  expect(await minorCollectionsDuring(Array.from({ length: 160 }, () => 64 * 1024))).toBeGreaterThanOrEqual(10)
  // the count restarts after each collection: three reads of 400 KiB cross 1 MiB once
  const once = await minorCollectionsDuring([400 * 1024, 400 * 1024, 400 * 1024])
  expect(once).toBeGreaterThanOrEqual(1)
  expect(once).toBeLessThan(3)
})

it("restarts the count after a young collection of V8's own", async () => {
  ReadBuffers.collectEvery(MiB)
  ReadBuffers.read(768 * 1024)
  // young garbage enough for V8 to scavenge by itself, then time for its report to arrive
  let garbage: Array<Array<number>> = []
  for (let i = 0; i < 400_000; i++) garbage = i % 1000 === 0 ? [] : [...garbage.slice(-10), [i]]
  await new Promise((resolve) => setTimeout(resolve, 20))
  // 768 KiB more is 1.5 MiB since the call, but well under 1 MiB since V8's collection
  expect(await minorCollectionsDuring([768 * 1024])).toBe(0)
})

it("gives the program's global object no gc function", () => {
  ReadBuffers.collectEvery(MiB)
  expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
})
