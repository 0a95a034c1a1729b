/**
 * What `Live.quick` makes of a command: answered inline, out of turn, or a decision of
 * `Protocol.step` left to the session's fiber.
 *
 * @since 0.2.0
 */
import type * as Protocol from "../protocol/Protocol.js"

/**
 * A command answered without effects: its reply is pending, its state taken.
 *
 * @since 0.1.0
 * @category models
 */
export interface Answered {
  readonly _tag: "Answered"
}

/**
 * A command sent ahead where the client had to wait for a reply (`forbidUnauthPipelining`,
 * see `Pipelining`): the session ends with `554 5.5.0`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutOfTurn {
  readonly _tag: "OutOfTurn"
}

/**
 * What `Live.quick` made of a command: answered, out of turn, or a decision of `Protocol.step`
 * whose effects the session's fiber carries out (its state not yet taken).
 *
 * @since 0.1.0
 * @category models
 */
export type QuickStep = Answered | OutOfTurn | Protocol.Decision

/**
 * The one `Answered` (a step answered inline allocates nothing).
 *
 * @since 0.1.0
 */
export const answered: Answered = { _tag: "Answered" }

/**
 * The one `OutOfTurn`.
 *
 * @since 0.1.0
 */
export const outOfTurn: OutOfTurn = { _tag: "OutOfTurn" }
