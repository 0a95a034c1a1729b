// The chaos triggers by themselves: what a PUT body may hold, and how often a trigger fires.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Random, Result } from "effect"
import * as Chaos from "../../src/inbox/Chaos.js"

describe("Chaos", () => {
  it("parses triggers, keys in any case; refuses codes and probabilities out of range", () => {
    expect(Chaos.parse({ sender: { errorcode: 451, probability: 5 }, Recipient: null })).toEqual(
      Result.succeed({ Sender: { ErrorCode: 451, Probability: 5 } })
    )
    for (const bad of [
      { Sender: { ErrorCode: 399, Probability: 5 } },
      { Sender: { ErrorCode: 600, Probability: 5 } },
      { Sender: { ErrorCode: 451.5, Probability: 5 } },
      { Sender: { ErrorCode: 451, Probability: -1 } },
      { Sender: { ErrorCode: 451, Probability: 100.5 } },
      { Sender: { ErrorCode: "451", Probability: 5 } },
      { Sender: [451, 5] },
      { Helo: { ErrorCode: 451, Probability: 5 } }
    ]) {
      expect(Result.isFailure(Chaos.parse(bad)), JSON.stringify(bad)).toBe(true)
    }
  })

  it.effect("fires at 100 %, never at 0 %, about half the time at 50 %; never when not enabled", () =>
    Effect.gen(function* () {
      const chaos = yield* Chaos.make(true)
      const fired = (n: number) =>
        Effect.map(
          Effect.forEach(Array.from({ length: n }), () => Effect.exit(chaos.roll("Recipient"))),
          (exits) => exits.filter(Exit.isFailure).length
        )
      expect(yield* fired(100)).toBe(0)
      yield* chaos.set({ Recipient: { ErrorCode: 550, Probability: 100 } })
      expect(yield* fired(100)).toBe(100)
      expect(yield* Effect.flip(chaos.roll("Recipient"))).toMatchObject({ code: 550, enhanced: "5.0.0" })
      expect(yield* Effect.exit(chaos.roll("Sender"))).toEqual(Exit.void)
      yield* chaos.set({ Recipient: { ErrorCode: 450, Probability: 50 } })
      const half = yield* fired(2000).pipe(Random.withSeed("chaos"))
      expect(half).toBeGreaterThan(850)
      expect(half).toBeLessThan(1150)
      // a set that leaves a trigger out turns it off
      expect(yield* chaos.set({})).toEqual(Chaos.allOff)

      const disabled = yield* Chaos.make(false)
      yield* disabled.set({ Sender: { ErrorCode: 451, Probability: 100 } })
      expect(yield* Effect.exit(disabled.roll("Sender"))).toEqual(Exit.void)
    })
  )
})
