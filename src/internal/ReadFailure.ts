/**
 * Why a session's input can no longer be read: the same for both engines (`Reader`, and the stream session's `Wire`).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The client gets `421 4.4.2` for a timeout (idle, a line not complete within
 * `commandDeadline`, or a DATA slower than `minDataRate`) and nothing when it is gone.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReadFailure extends Data.TaggedError("ReadFailure")<{
  /** `slow`: DATA came in under the minimum rate; `deadline`: a line took longer than `commandDeadline`; `error`: the input stream failed. */
  readonly reason: "closed" | "timeout" | "deadline" | "slow" | "error"
}> {}
