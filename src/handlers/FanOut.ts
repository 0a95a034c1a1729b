/**
 * One body, several readers: the client's bytes are read once and handed to every reader, each
 * through a small bounded queue, so the slowest reader paces the client (backpressure) and no
 * copy of the message piles up. A reader that stops reading is drained, never waited on; the
 * chunks are shared, not copied: readers must not write into them.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"

// chunks in flight per reader: enough to keep readers busy, little enough to bound memory
const lag = 4

/**
 * Runs every reader on its own copy of `body`, concurrently, and gives each one's exit.
 *
 * @since 0.1.0
 * @category combinators
 */
export const fanOut = <E, A, E2>(
  body: Stream.Stream<Uint8Array, E>,
  readers: ReadonlyArray<(body: Stream.Stream<Uint8Array, E>) => Effect.Effect<A, E2>>
): Effect.Effect<ReadonlyArray<Exit.Exit<A, E2>>> => Effect.scoped(Effect.gen(() => fanOutSteps(body, readers)))

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* fanOutSteps<E, A, E2>(
  body: Stream.Stream<Uint8Array, E>,
  readers: ReadonlyArray<(body: Stream.Stream<Uint8Array, E>) => Effect.Effect<A, E2>>
) {
  const scope = yield* Effect.scope
  const queues = yield* Effect.forEach(readers, () => Queue.bounded<Take.Take<Uint8Array, E>>(lag))
  const offerAll = (take: Take.Take<Uint8Array, E>) =>
    Effect.forEach(queues, (queue) => Queue.offer(queue, take), { discard: true })
  // a Take is a non-empty chunk, or the exit that ends the body
  const publish = Stream.runForEachArray(body, offerAll).pipe(
    Effect.matchCauseEffect({
      onSuccess: () => offerAll(Exit.void),
      onFailure: (cause) => offerAll(Exit.failCause(cause))
    })
  )
  const read = (queue: Queue.Queue<Take.Take<Uint8Array, E>>, reader: (typeof readers)[number]) => {
    let ended = false
    let draining = false
    const done = (take: Take.Take<Uint8Array, E>) => Exit.isExit(take)
    const drain: Effect.Effect<void> = Effect.suspend(() =>
      ended ? Effect.void : Effect.flatMap(Queue.take(queue), (take) => ((ended = done(take)), drain))
    )
    // from the moment the reader stops reading (its stream ends, or it returns without one),
    // its queue is emptied by a drainer, so the others go on while it does other work
    const release = Effect.suspend(() => {
      if (draining) return Effect.void
      draining = true
      return Effect.asVoid(Effect.forkIn(drain, scope))
    })
    const pull = Effect.suspend(() =>
      ended || draining
        ? Cause.done()
        : Effect.flatMap(Queue.take(queue), (take) => {
            if (done(take)) ended = true
            return Take.toPull(take)
          })
    )
    const stream = Stream.fromPull(Effect.succeed(pull)).pipe(Stream.ensuring(release))
    return Effect.exit(reader(stream)).pipe(Effect.tap(() => release))
  }
  const [, ...exits] = yield* Effect.all([publish, ...readers.map((reader, i) => read(queues[i]!, reader))], {
    concurrency: "unbounded"
  })
  return exits
}

/**
 * The first failure of an exit, if it failed with one (not a defect or an interruption).
 *
 * @since 0.1.0
 * @category getters
 */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
