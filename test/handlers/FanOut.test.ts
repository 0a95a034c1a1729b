import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Data, Deferred, Effect, Exit, Option, Stream } from "effect"
import * as FastCheck from "fast-check"
import * as FanOut from "../../src/handlers/FanOut.js"
import { chunked } from "../utils/chunks.js"

// the queue bound in FanOut.ts
const lag = 4

class SourceError extends Data.TaggedError("SourceError")<{ readonly at: number }> {}
class ReaderError extends Data.TaggedError("ReaderError")<{ readonly reader: string }> {}

const concat = (parts: Iterable<Uint8Array>): Uint8Array => Buffer.concat([...parts])

const collect = <E>(body: Stream.Stream<Uint8Array, E>) => Effect.map(Stream.runCollect(body), concat)

// `count` chunks of one element each, chunk i holding the byte i % 256; counts what was pulled
const source = (count: number) => {
  const stats = { runs: 0, pulled: 0 }
  const stream = Stream.suspend(() => {
    stats.runs++
    return Stream.range(0, count - 1).pipe(
      Stream.map((i) => Uint8Array.of(i % 256)),
      Stream.rechunk(1),
      Stream.tap(() => Effect.sync(() => stats.pulled++))
    )
  })
  return { stats, stream, bytes: Uint8Array.from({ length: count }, (_, i) => i % 256) }
}

// a fanOut that blocks shows as a timeout, not as a hung test
const guard = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.timeoutOrElse(self, { duration: "10 seconds", orElse: () => Effect.fail(new Error("fanOut blocked")) })

// the defects in a cause, in order
const defects = (cause: Cause.Cause<unknown>) => cause.reasons.filter(Cause.isDieReason).map((reason) => reason.defect)

// fast-check runs the property; each run is an Effect on the live services
const property = <T, E>(
  arbitrary: FastCheck.Arbitrary<T>,
  run: (value: T) => Effect.Effect<void, E>,
  numRuns: number
) =>
  Effect.promise(() =>
    FastCheck.assert(
      FastCheck.asyncProperty(arbitrary, (value) => Effect.runPromise(run(value))),
      { numRuns }
    )
  )

const successOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) return assert.fail(`expected success, got ${Cause.pretty(exit.cause)}`)
  return exit.value
}

describe("FanOut.fanOut", () => {
  it.live("every reader gets the exact bytes, however the body is chunked", () =>
    property(
      FastCheck.record({
        content: FastCheck.uint8Array({ maxLength: 2000 }),
        cuts: FastCheck.array(FastCheck.nat(2000), { maxLength: 60 }),
        group: FastCheck.integer({ min: 1, max: 5 }),
        paces: FastCheck.array(FastCheck.nat(3), { minLength: 1, maxLength: 4 })
      }),
      ({ content, cuts, group, paces }) =>
        Effect.gen(function* () {
          const pieces = chunked(content, cuts)
          let runs = 0
          const body = Stream.suspend(() => {
            runs++
            return Stream.fromIterable(pieces).pipe(Stream.rechunk(group))
          })
          // readers of different speeds, so that the queues fill unevenly
          const readers = paces.map(
            (pace) => (stream: Stream.Stream<Uint8Array>) =>
              collect(Stream.tap(stream, () => Effect.repeat(Effect.yieldNow, { times: pace })))
          )
          const exits = yield* guard(FanOut.fanOut(body, readers))
          expect(exits).toHaveLength(paces.length)
          for (const exit of exits) expect(successOf(exit)).toEqual(Buffer.from(content))
          expect(runs).toBe(1)
        }),
      25
    )
  )

  it.live("readers that stop early, fail or die do not block one that reads everything", () =>
    Effect.gen(function* () {
      const { bytes, stats, stream } = source(1000)
      const exits = yield* guard(
        FanOut.fanOut<never, string | number | Uint8Array, ReaderError>(stream, [
          () => Effect.succeed("did not read"),
          (body) => Effect.map(Stream.runCollect(Stream.take(body, 1)), (chunks) => chunks.length),
          (body) =>
            Stream.runForEach(Stream.zipWithIndex(body), ([, i]) =>
              i === 10 ? Effect.fail(new ReaderError({ reader: "fails" })) : Effect.void
            ).pipe(Effect.as("unreachable")),
          (body) =>
            Stream.runForEach(Stream.zipWithIndex(body), ([, i]) =>
              i === 20 ? Effect.die("reader defect") : Effect.void
            ).pipe(Effect.as("unreachable")),
          () => Effect.die("immediate defect"),
          collect
        ])
      )
      expect(exits).toHaveLength(6)
      expect(successOf(exits[0]!)).toBe("did not read")
      expect(successOf(exits[1]!)).toBe(1)
      expect(FanOut.failureOf(exits[2]!)).toEqual(Option.some(new ReaderError({ reader: "fails" })))
      for (const [exit, defect] of [
        [exits[3]!, "reader defect"],
        [exits[4]!, "immediate defect"]
      ] as const) {
        assert(Exit.isFailure(exit))
        expect(Cause.hasDies(exit.cause)).toBe(true)
        expect(defects(exit.cause)).toEqual([defect])
        expect(FanOut.failureOf(exit)).toEqual(Option.none())
      }
      expect(successOf(exits[5]!)).toEqual(Buffer.from(bytes))
      // the source was read once, to the end
      expect(stats).toEqual({ runs: 1, pulled: 1000 })
    })
  )

  // the module promises a reader that stops early is "drained, never waited on": a reader that is
  // done with the body but still busy must not hold the body back from the others
  it.live("a reader done with the body but still running does not hold up the others", () =>
    Effect.gen(function* () {
      const { bytes, stream } = source(1000)
      const fullRead = yield* Deferred.make<void>()
      const exits = yield* guard(
        FanOut.fanOut<never, number | Uint8Array, never>(stream, [
          // reads the first chunk, then waits for the other reader to have read everything
          (body) =>
            Stream.runCollect(Stream.take(body, 1)).pipe(
              Effect.tap(() => Deferred.await(fullRead)),
              Effect.map((chunks) => chunks.length)
            ),
          (body) => collect(body).pipe(Effect.tap(() => Deferred.succeed(fullRead, undefined)))
        ])
      )
      expect(successOf(exits[0]!)).toBe(1)
      expect(successOf(exits[1]!)).toEqual(Buffer.from(bytes))
    })
  )

  it.live("a failing source fails every reader's stream with its error", () =>
    Effect.gen(function* () {
      const { stats, stream } = source(10)
      const error = new SourceError({ at: 10 })
      const body = Stream.concat(stream, Stream.fail(error))
      const got: Array<number> = []
      const exits = yield* guard(
        FanOut.fanOut<SourceError, unknown, SourceError | string>(body, [
          collect,
          collect,
          // sees every chunk before the error
          (body) => Stream.runForEach(body, (chunk) => Effect.sync(() => got.push(...chunk))),
          // handles the error itself
          (body) => Effect.catch(Stream.runDrain(body), Effect.succeed),
          // stopped before the error: unaffected
          (body) => Effect.map(Stream.runCollect(Stream.take(body, 3)), (chunks) => chunks.length),
          () => Effect.succeed("did not read")
        ])
      )
      for (const exit of exits.slice(0, 3)) {
        expect(FanOut.failureOf(exit)).toEqual(Option.some(error))
        expect(exit).toStrictEqual(Exit.fail(error))
      }
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(successOf(exits[3]!)).toEqual(error)
      expect(successOf(exits[4]!)).toBe(3)
      expect(successOf(exits[5]!)).toBe("did not read")
      expect(stats).toEqual({ runs: 1, pulled: 10 })
    })
  )

  it.live("a dying source shows as a die in every reader's exit", () =>
    Effect.gen(function* () {
      const { stream } = source(5)
      const exits = yield* guard(
        FanOut.fanOut(Stream.concat(stream, Stream.die("source defect")), [collect, collect, () => Effect.void])
      )
      for (const exit of exits.slice(0, 2)) {
        assert(Exit.isFailure(exit))
        expect(defects(exit.cause)).toEqual(["source defect"])
      }
      assert(Exit.isSuccess(exits[2]!))
    })
  )

  it.live("the slowest reader paces the source", () =>
    Effect.gen(function* () {
      const count = 200
      let pulled = 0
      let slow = 0
      let fast = 0
      let ahead = 0 // how far the source got ahead of the slow reader, at most
      let fastAhead = 0 // how far the fast reader got ahead of the slow one, at most
      const body = Stream.range(0, count - 1).pipe(
        Stream.map((i) => Uint8Array.of(i % 256)),
        Stream.rechunk(1),
        Stream.tap(() =>
          Effect.sync(() => {
            pulled++
            ahead = Math.max(ahead, pulled - slow)
          })
        )
      )
      const exits = yield* guard(
        FanOut.fanOut(body, [
          (body) =>
            Stream.runForEach(body, () =>
              Effect.sync(() => {
                fast++
                fastAhead = Math.max(fastAhead, fast - slow)
              })
            ),
          (body) =>
            Stream.runForEach(body, () =>
              Effect.andThen(
                Effect.sleep("1 millis"),
                Effect.sync(() => slow++)
              )
            )
        ])
      )
      exits.forEach(successOf)
      expect([pulled, fast, slow]).toEqual([count, count, count])
      // queued for the slow reader, plus one offered and one taken but not yet counted
      expect(ahead).toBeLessThanOrEqual(lag + 2)
      expect(fastAhead).toBeLessThanOrEqual(lag + 2)
      // and the queue does fill: the source is not merely lock-stepped with the slowest reader
      expect(ahead).toBeGreaterThanOrEqual(lag)
    })
  )

  it.live("with no readers, the source is drained and there are no exits", () =>
    Effect.gen(function* () {
      const { stats, stream } = source(100)
      expect(yield* guard(FanOut.fanOut(stream, []))).toEqual([])
      expect(stats).toEqual({ runs: 1, pulled: 100 })
      // nobody to hand a failing source's error to: it is dropped
      const failing = source(3)
      const exits = yield* guard(FanOut.fanOut(Stream.concat(failing.stream, Stream.fail("gone")), []))
      expect(exits).toEqual([])
      expect(failing.stats.pulled).toBe(3)
    })
  )

  it.live("exits come in the readers' order", () =>
    Effect.gen(function* () {
      const { stream } = source(50)
      const exits = yield* guard(
        FanOut.fanOut(
          stream,
          [30, 0, 10].map(
            (delay, i) => (body: Stream.Stream<Uint8Array>) =>
              Stream.runDrain(body).pipe(Effect.andThen(Effect.sleep(`${delay} millis`)), Effect.as(i))
          )
        )
      )
      expect(exits.map(successOf)).toEqual([0, 1, 2])
    })
  )
})
