/**
 * One body, several readers: the client's bytes are read once and handed to every reader, each
 * through a small bounded queue, so the slowest reader paces the client (backpressure) and no
 * copy of the message piles up. A reader that stops early is drained, never waited on.
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
): Effect.Effect<ReadonlyArray<Exit.Exit<A, E2>>> =>
  Effect.gen(function* () {
    const queues = yield* Effect.forEach(readers, () => Queue.bounded<Take.Take<Uint8Array, E>>(lag))
    const offerAll = (take: Take.Take<Uint8Array, E>) =>
      Effect.forEach(queues, (queue) => Queue.offer(queue, take), { discard: true })
    const publish = Stream.runForEachChunk(body, (chunk) => offerAll(Take.chunk(chunk))).pipe(
      Effect.matchCauseEffect({
        onSuccess: () => offerAll(Take.end),
        onFailure: (cause) => offerAll(Take.failCause(cause))
      })
    )
    const read = (queue: Queue.Queue<Take.Take<Uint8Array, E>>, reader: (typeof readers)[number]) => {
      let ended = false
      const done = (take: Take.Take<Uint8Array, E>) => Take.isDone(take) || Take.isFailure(take)
      const stream = Stream.repeatEffectChunkOption(
        Effect.flatMap(Queue.take(queue), (take) => {
          if (done(take)) ended = true
          return Take.done(take)
        })
      )
      // what the reader left unread is taken off its queue, so the others go on
      const drain: Effect.Effect<void> = Effect.suspend(() =>
        ended ? Effect.void : Effect.flatMap(Queue.take(queue), (take) => ((ended = done(take)), drain))
      )
      return Effect.exit(reader(stream)).pipe(Effect.zipLeft(drain))
    }
    const [, ...exits] = yield* Effect.all([publish, ...readers.map((reader, i) => read(queues[i]!, reader))], {
      concurrency: "unbounded"
    })
    return exits
  })

/**
 * The first failure of an exit, if it failed with one (not a defect or an interruption).
 *
 * @since 0.1.0
 * @category getters
 */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
