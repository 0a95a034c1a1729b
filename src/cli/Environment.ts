/**
 * The command's flags read from the environment: every flag `--some-flag` also as
 * `EFFECT_SMTPD_SOME_FLAG`, through Effect's `Config` (the flag, when given, wins). What a
 * container or a systemd unit sets instead of a long command line.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * The variable of a flag: `relay-mode` → `EFFECT_SMTPD_RELAY_MODE`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const env = (flag: string): string => `EFFECT_SMTPD_${flag.toUpperCase().replaceAll("-", "_")}`

/**
 * A repeatable flag's values: those given, else its variable's, separated by commas or white
 * space (`EFFECT_SMTPD_LISTEN="0.0.0.0:25 [::]:25"`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const repeated = (flag: string, given: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>> =>
  given.length > 0
    ? Effect.succeed(given)
    : Effect.gen(function* () {
        const value = yield* Config.option(Config.String(env(flag)))
        return Option.match(value, {
          onNone: (): ReadonlyArray<string> => [],
          onSome: (text) => text.split(/[\s,]+/).filter((item) => item !== "")
        })
      }).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
