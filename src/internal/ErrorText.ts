/**
 * A failure told on one line, for people: the error's own words and those of its causes (a
 * driver's error alone often says only "Failed to connect").
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"

/**
 * The squashed error's message and up to two causes below it, repeats left out, white space
 * folded.
 *
 * @since 0.2.0
 * @category constructors
 */
export const oneLine = (cause: Cause.Cause<unknown>): string => {
  const parts: Array<string> = []
  let current: unknown = Cause.squash(cause)
  for (let depth = 0; depth < 3 && current !== undefined; depth++) {
    const text = current instanceof Error ? current.message : String(current)
    if (text !== "" && !parts.includes(text)) parts.push(text)
    current = current instanceof Error ? current.cause : undefined
  }
  return parts.join(": ").replace(/\s+/g, " ")
}

/**
 * `oneLine` for an error (a failure's value) rather than a `Cause`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const ofError = (error: unknown): string => oneLine(Cause.fail(error))
