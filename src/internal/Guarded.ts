/**
 * A handler's hook as the session calls it: its failure becomes the reply. SMTP errors say
 * theirs (a cause they carry is logged); anything else is logged and answered 451. A vanished
 * client needs no reply and no alarm.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Message from "../handler/Message.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"

/**
 * The hook's result, or the reply its failure calls for; interruption passes through.
 *
 * @since 0.1.0
 * @category combinators
 */
export const guarded = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Result.Result<A, Reply.Reply>> =>
  effect.pipe(
    Effect.map(Result.succeed),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const failure = Cause.findErrorOption(cause)
      if (failure._tag === "Some") {
        const error = failure.value
        if (error instanceof Message.ClientDisconnected) return Effect.succeed(Result.fail(Reply.localError))
        if (SmtpError.isSmtpError(error)) {
          const reply = Effect.succeed(Result.fail(SmtpError.reply(error)))
          return "cause" in error && error.cause !== undefined
            ? Effect.andThen(Effect.logWarning(`message handler: ${error._tag}`, error.cause), reply)
            : reply
        }
      }
      return Effect.logError("message handler failed", cause).pipe(Effect.as(Result.fail(Reply.localError)))
    })
  )

/**
 * What a hook that is not called (`MessageHandler.acceptAll`) would have answered.
 *
 * @since 0.1.0
 */
export const accepted: Result.Result<void, Reply.Reply> = Result.succeed(undefined)
