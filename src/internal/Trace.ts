/**
 * What the protocol trace (`trace: true`, the command's `-d`) may show of a client's line:
 * control characters escaped (a CR, LF or ANSI escape in HELO cannot forge log lines or
 * repaint a terminal), and AUTH's initial response hidden.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Framer from "../protocol/Framer.js"
import type * as Transport from "./Transport.js"

/**
 * A string with its control characters as `\xHH`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const escape = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\x00-\x1f\x7f\u0080-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)

/**
 * A command line for the trace.
 *
 * @since 0.1.0
 * @category formatting
 */
export const commandLine = (frame: Extract<Framer.Frame, { _tag: "Line" | "LineTooLong" }>): string => {
  if (frame._tag !== "Line") return "(line too long)"
  const text = new TextDecoder().decode(frame.bytes)
  const auth = /^(AUTH[ \t]+\S+)[ \t]+\S/i.exec(text)
  return escape(auth === null ? text : `${auth[1]} ****`)
}

/**
 * Writes replies on the transport (traced when the server traces).
 *
 * @since 0.1.0
 */
export const write = (
  transport: Transport.Transport,
  out: string,
  trace: boolean
): Effect.Effect<void, Transport.TransportError> =>
  trace ? Effect.andThen(Effect.logDebug(`>>> ${out.trimEnd()}`), transport.write(out)) : transport.write(out)
