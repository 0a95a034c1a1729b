/**
 * The client's side of DATA (RFC 5321 §4.5.2): dot-stuffs lines that begin with a dot, makes
 * every line end CRLF (a bare CR or LF is never sent: SMTP smuggling rides on them), and ends the
 * content with `CRLF.CRLF`. Incremental over chunks: a line may span them.
 *
 * @since 0.1.0
 */
import * as Framer from "./Framer.js"

const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e
const crlf = new Uint8Array([CR, LF])
const lf = new Uint8Array([LF])
const dot = new Uint8Array([DOT])

/**
 * @since 0.1.0
 * @category models
 */
export class DataEncoder {
  private lineStart = true
  private afterCr = false

  /** The chunk ready for the wire; the same array when nothing needed changing. */
  encode(chunk: Uint8Array): Uint8Array {
    let parts: Array<Uint8Array> | undefined
    let start = 0
    const cut = (end: number, insert: Uint8Array, next: number) => {
      ;(parts ??= []).push(chunk.subarray(start, end), insert)
      start = next
    }
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!
      if (this.afterCr) {
        this.afterCr = false
        if (byte === LF) {
          this.lineStart = true
          continue
        }
        cut(i, lf, i) // a bare CR: complete it
        this.lineStart = true
      }
      if (byte === CR) {
        this.afterCr = true
        this.lineStart = false
      } else if (byte === LF) {
        cut(i, crlf, i + 1) // a bare LF
        this.lineStart = true
      } else if (this.lineStart) {
        this.lineStart = false
        if (byte === DOT) cut(i, dot, i)
      }
    }
    if (parts === undefined) return chunk
    parts.push(chunk.subarray(start))
    return Framer.concat(parts)
  }

  /** What ends the content: a line break if it did not end with one, then `.` CRLF. */
  end(): Uint8Array {
    const terminator = this.afterCr ? "\n.\r\n" : this.lineStart ? ".\r\n" : "\r\n.\r\n"
    this.lineStart = true
    this.afterCr = false
    return new TextEncoder().encode(terminator)
  }
}

/**
 * Does the chunk hold a byte over 127 (content that needs 8BITMIME)?
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasEightBit = (chunk: Uint8Array): boolean => {
  for (let i = 0; i < chunk.length; i++) if (chunk[i]! > 0x7f) return true
  return false
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (): DataEncoder => new DataEncoder()
