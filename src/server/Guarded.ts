/**
 * A handler's hook as the session calls it: its failure becomes the reply. SMTP errors say
 * theirs (a cause they carry is logged); anything else is logged and answered 451. A vanished
 * client needs no reply and no alarm.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Message from "../handler/Message.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "./SmtpError.js"

/**
 * The hook's result, or the reply its failure calls for; interruption passes through.
 *
 * @since 0.1.0
 * @category combinators
 */
export const guarded = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Either.Either<A, Reply.Reply>> =>
  effect.pipe(
    Effect.map(Either.right),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const failure = Cause.failureOption(cause)
      if (failure._tag === "Some") {
        const error = failure.value
        if (error instanceof Message.ClientDisconnected) return Effect.succeed(Either.left(Reply.localError))
        if (SmtpError.isSmtpError(error)) {
          const reply = Effect.succeed(Either.left(SmtpError.reply(error)))
          return "cause" in error && error.cause !== undefined
            ? Effect.zipRight(Effect.logWarning(`message handler: ${error._tag}`, error.cause), reply)
            : reply
        }
      }
      return Effect.logError("message handler failed", cause).pipe(Effect.as(Either.left(Reply.localError)))
    })
  )

/**
 * What a hook that is not called (`MessageHandler.acceptAll`) would have answered.
 *
 * @since 0.1.0
 */
export const accepted: Either.Either<void, Reply.Reply> = Either.right(undefined)
