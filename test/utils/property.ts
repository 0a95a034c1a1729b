// Property tests over fast-check arbitraries, in the form of @effect/vitest 3's `it.prop` (version
// 4's takes Effect's own Schema and Arbitrary generators): the arbitraries as a tuple or a record,
// the property gets their values in the same shape.
import { it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"

// (`any`, not `unknown`: a contextual type of Arbitrary<unknown> would change what generic arbitraries infer)
type Arbitraries = ReadonlyArray<fc.Arbitrary<any>> | { readonly [name: string]: fc.Arbitrary<any> }
type Values<A extends Arbitraries> = { -readonly [K in keyof A]: A[K] extends fc.Arbitrary<infer T> ? T : never }
interface Options<A extends Arbitraries> {
  readonly timeout?: number
  readonly fastCheck?: fc.Parameters<[Values<A>]>
}

const all = <A extends Arbitraries>(arbitraries: A): fc.Arbitrary<Values<A>> =>
  (Array.isArray(arbitraries)
    ? fc.tuple(...(arbitraries as ReadonlyArray<fc.Arbitrary<unknown>>))
    : fc.record(arbitraries as { readonly [name: string]: fc.Arbitrary<unknown> })) as unknown as fc.Arbitrary<
    Values<A>
  >

/** A synchronous property: it holds when `property` returns without throwing. */
export const itProp = <const A extends Arbitraries>(
  name: string,
  arbitraries: A,
  property: (values: Values<A>) => void,
  options: Options<A> = {}
): void => {
  it(name, () => fc.assert(fc.property(all(arbitraries), property), options.fastCheck), options.timeout)
}

/** A property that is an Effect, run with the real clock. */
export const itLiveProp = <const A extends Arbitraries>(
  name: string,
  arbitraries: A,
  property: (values: Values<A>) => Effect.Effect<void, unknown>,
  options: Options<A> = {}
): void => {
  it(
    name,
    () =>
      fc.assert(
        fc.asyncProperty(all(arbitraries), (values) => Effect.runPromise(property(values))),
        options.fastCheck
      ),
    options.timeout
  )
}
