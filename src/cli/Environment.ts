/**
 * The command's flags read from the environment: every flag `--some-flag` also as
 * `EFFECT_SMTPD_SOME_FLAG`, through Effect's `Config` (the flag, when given, wins). What a
 * container or a systemd unit sets instead of a long command line.
 *
 * @since 0.2.0
 */
import { Flag } from "effect/cli"
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

// is any of the command's variables set? Without one, no flag looks for its variable (a lookup
// per flag at start-up cost ~1 MiB of memory)
const anySet = Object.keys(process.env).some((name) => name.startsWith("EFFECT_SMTPD_"))

/**
 * `Flag.withFallbackConfig(config)` when any `EFFECT_SMTPD_*` variable is set, else nothing.
 *
 * @since 0.2.0
 * @category combinators
 */
export const fallback = <B>(config: Config.Config<B>): (<A>(self: Flag.Flag<A>) => Flag.Flag<A | B>) =>
  anySet ? Flag.withFallbackConfig(config) : (self) => self

/**
 * An environment variable's value, read through `Config`; none when it is not set (or cannot be
 * read).
 *
 * @since 0.2.0
 * @category constructors
 */
export const variable = (name: string): Effect.Effect<Option.Option<string>> =>
  Effect.orElseSucceed(Config.option(Config.String(name)), Option.none)

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
    : Effect.map(
        variable(env(flag)),
        Option.match({
          onNone: (): ReadonlyArray<string> => [],
          onSome: (text) => text.split(/[\s,]+/).filter((item) => item !== "")
        })
      )
