// Log lines captured for a test: every level, the message's parts joined with spaces.
import { Layer, Logger, References } from "effect"

/** A layer that appends each log line's message to `lines` (the default logger stays). */
export const logTo = (lines: Array<string>) =>
  Layer.merge(
    Logger.layer(
      [
        Logger.make(({ message }) => {
          lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
        })
      ],
      { mergeWithExisting: true }
    ),
    Layer.succeed(References.MinimumLogLevel, "All")
  )
