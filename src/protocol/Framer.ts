/**
 * The byte framer: turns socket chunks into SMTP frames, in the mode the session is in.
 *
 * In command mode it yields one frame per line (CRLF, or a lone LF, ends a line; under `reject`
 * only CRLF does, and a line holding a lone LF or CR is marked) and never buffers more than the
 * line limit. After `startData()` it scans whole chunks for the end of
 * the DATA section, removes the leading dot of dot-stuffed lines and yields the body as slices
 * of the input (no copy unless a line ending is rewritten), counts its size and applies the
 * bare line ending policy. After `startChunk(n)` (BDAT, RFC 3030) the next `n` bytes are content
 * as they are: no dot-unstuffing, no line endings looked at, the size counted across the chunks
 * of one message. `discard(n)` drops the next `n` bytes (a refused BDAT's chunk) without holding
 * them. It performs no I/O: the connection pushes bytes and pulls frames.
 *
 * @since 0.1.0
 */

/**
 * What a lone LF or a lone CR inside DATA, or in a command line, becomes.
 *
 * - `normalize`: rewritten to CRLF in DATA, and a lone LF ends a command line (Postfix ≥ 3.9 does
 *   the same)
 * - `reject`: the rest of the message is drained and the transaction answered 550 5.6.11; a
 *   command line ends only at CRLF, and one that holds a lone LF or CR is answered 500 5.5.2
 *   with nothing of it run (Postfix's `smtpd_forbid_bare_newline = yes`)
 * - `pass`: kept as sent in DATA; in commands as `normalize`
 *
 * @since 0.1.0
 * @category models
 */
export type BareLineEndings = "normalize" | "reject" | "pass"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Longest command line, in octets including its CRLF (default 2048, Postfix's value). */
  readonly maxLineLength?: number | undefined
  /** Largest message body in octets after dot-unstuffing; 0 means no limit (default 0). */
  readonly maxMessageSize?: number | undefined
  /** Default `normalize`. */
  readonly bareLineEndings?: BareLineEndings | undefined
}

/**
 * Why the framer stopped handing body bytes on: the rest of the message is drained to its end.
 *
 * @since 0.1.0
 * @category models
 */
export type AbortReason = "MessageTooBig" | "BareLineEnding"

/**
 * @since 0.1.0
 * @category models
 */
export type Frame =
  /**
   * A command line, without its line ending. A view into the input: copy it to keep it.
   * `bareLineEnding`: it holds a lone LF or CR (only under `reject`, where it is refused whole).
   */
  | { readonly _tag: "Line"; readonly bytes: Uint8Array; readonly bareLineEnding?: true }
  /** A command line over the limit was dropped, up to and including its LF. */
  | { readonly _tag: "LineTooLong" }
  /** Message content, unstuffed. A view into the input: copy it to keep it past the next pull. */
  | { readonly _tag: "Body"; readonly bytes: Uint8Array }
  /** No more body will follow; the framer drains the rest of the message. */
  | { readonly _tag: "Abort"; readonly reason: AbortReason }
  /** `CRLF.CRLF` was read; the framer is back in command mode. */
  | { readonly _tag: "EndOfData"; readonly size: number }
  /** A BDAT chunk was read to its end; `size` counts the message so far. Back in command mode. */
  | { readonly _tag: "EndOfChunk"; readonly size: number }

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxLineLength = 2048

const LF = 0x0a
const CR = 0x0d
const DOT = 0x2e
const CRLF = new Uint8Array([CR, LF])
const lineTooLong: Frame = { _tag: "LineTooLong" }
const empty = new Uint8Array(0)

/**
 * A framer owns the bytes pushed into it until they are pulled out as frames. It is a small
 * mutable state machine on purpose: it runs once per socket chunk on the hot path.
 *
 * @since 0.1.0
 * @category models
 */
export class Framer {
  private readonly maxLineLength: number
  private readonly maxMessageSize: number
  private readonly bareLineEndings: BareLineEndings
  private buf: Uint8Array = empty
  private pos = 0
  // next LF / CR at or after pos; -1 = not yet searched, buf.length = none
  private lfAt = -1
  private crAt = -1
  private mode: "command" | "data" | "chunk" = "command"
  /** Bytes of the chunk still to come, or still to drop before the next command. */
  private chunkLeft = 0
  private discarding = 0
  private skippingLongLine = false
  // under `reject`: the last byte skipped of a long line was a CR (its LF may start the next chunk)
  private skippedCr = false
  // data state
  private sol = true
  private solAfterCrlf = true
  private size = 0
  private aborted = false
  private ended = false

  constructor(options: Options = {}) {
    this.maxLineLength = options.maxLineLength ?? defaultMaxLineLength
    this.maxMessageSize = options.maxMessageSize ?? 0
    this.bareLineEndings = options.bareLineEndings ?? "normalize"
  }

  /** `command`, or `data` while message content is read (DATA or a BDAT chunk). */
  get currentMode(): "command" | "data" {
    return this.mode === "command" ? "command" : "data"
  }

  /** Bytes pushed and not yet framed. */
  get buffered(): number {
    return this.buf.length - this.pos
  }

  /** Hands a chunk of input to the framer. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    if (this.pos >= this.buf.length) {
      this.buf = chunk
    } else {
      const rest = this.buf.subarray(this.pos)
      const joined = new Uint8Array(rest.length + chunk.length)
      joined.set(rest, 0)
      joined.set(chunk, rest.length)
      this.buf = joined
    }
    this.pos = 0
    this.lfAt = -1
    this.crAt = -1
  }

  /** Switches to DATA: what follows, up to `CRLF.CRLF`, is message content. */
  startData(): void {
    this.mode = "data"
    this.sol = true
    this.solAfterCrlf = true
    this.size = 0
    this.aborted = false
    this.ended = false
  }

  /**
   * BDAT: the next `size` bytes are content. `first`: the chunk begins a message (its size and
   * any abort start again); later chunks add to them.
   */
  startChunk(size: number, first: boolean): void {
    this.mode = "chunk"
    this.chunkLeft = size
    if (!first) return
    this.size = 0
    this.aborted = false
  }

  /** Drops the next `size` bytes unread: the chunk of a BDAT that was refused. */
  discard(size: number): void {
    this.discarding += size
  }

  /** Drops everything buffered (RFC 3207: plaintext sent before the TLS handshake is discarded). */
  reset(): void {
    this.buf = empty
    this.pos = 0
    this.lfAt = -1
    this.crAt = -1
    this.mode = "command"
    this.skippingLongLine = false
    this.discarding = 0
  }

  /** The next frame, or `undefined` when more input is needed. */
  pull(): Frame | undefined {
    if (this.mode === "command") return this.discarding > 0 && !this.skip() ? undefined : this.pullCommand()
    return this.mode === "data" ? this.pullData() : this.pullChunk()
  }

  // drops what a refused chunk still has in the buffer: true once all of it is gone
  private skip(): boolean {
    const n = Math.min(this.discarding, this.buf.length - this.pos)
    this.pos += n
    this.discarding -= n
    return this.discarding === 0
  }

  // a BDAT chunk: slices of the input as they are, counted; past the size limit only counted
  private pullChunk(): Frame | undefined {
    if (this.chunkLeft === 0) {
      this.mode = "command"
      return { _tag: "EndOfChunk", size: this.size }
    }
    const n = Math.min(this.chunkLeft, this.buf.length - this.pos)
    if (n === 0) return undefined
    const bytes = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    this.chunkLeft -= n
    this.size += n
    if (this.aborted) return this.pullChunk()
    if (this.maxMessageSize > 0 && this.size > this.maxMessageSize) {
      this.aborted = true
      return { _tag: "Abort", reason: "MessageTooBig" }
    }
    return { _tag: "Body", bytes }
  }

  private nextLf(from: number): number {
    if (this.lfAt < from) {
      const i = this.buf.indexOf(LF, from)
      this.lfAt = i === -1 ? this.buf.length : i
    }
    return this.lfAt
  }

  private nextCr(from: number): number {
    if (this.crAt < from) {
      const i = this.buf.indexOf(CR, from)
      this.crAt = i === -1 ? this.buf.length : i
    }
    return this.crAt
  }

  // under `reject` a line ends at CRLF only: the LF found may be a lone one inside it
  private lineEnd(): number {
    let lf = this.nextLf(this.pos)
    if (this.bareLineEndings !== "reject") return lf
    const crBefore = (at: number) =>
      at === this.pos ? this.skippingLongLine && this.skippedCr : this.buf[at - 1] === CR
    while (lf < this.buf.length && !crBefore(lf)) lf = this.nextLf(lf + 1)
    return lf
  }

  private pullCommand(): Frame | undefined {
    const buf = this.buf
    const end = buf.length
    const lf = this.lineEnd()
    if (lf === end) {
      // no line end yet: never hold more than one line's worth
      if (this.skippingLongLine || end - this.pos >= this.maxLineLength) {
        if (end > this.pos) this.skippedCr = buf[end - 1] === CR
        this.skippingLongLine = true
        this.pos = end
      }
      return undefined
    }
    const start = this.pos
    this.pos = lf + 1
    if (this.skippingLongLine) {
      this.skippingLongLine = false
      return lineTooLong
    }
    const contentEnd = lf > start && buf[lf - 1] === CR ? lf - 1 : lf
    // the limit counts the line with a CRLF ending (RFC 5321 §4.5.3.1.4)
    if (contentEnd - start + 2 > this.maxLineLength) return lineTooLong
    const bytes = buf.subarray(start, contentEnd)
    if (this.bareLineEndings === "reject" && (bytes.includes(LF) || bytes.includes(CR))) {
      return { _tag: "Line", bytes, bareLineEnding: true }
    }
    return { _tag: "Line", bytes }
  }

  private pullData(): Frame | undefined {
    if (this.ended) {
      this.mode = "command"
      return { _tag: "EndOfData", size: this.size }
    }
    const buf = this.buf
    const end = buf.length
    const parts: Array<Uint8Array> = []
    let p = this.pos
    let start = p
    const emit = (from: number, to: number) => {
      if (to > from) parts.push(buf.subarray(from, to))
    }
    scan: while (p < end) {
      if (this.sol) {
        if (buf[p] === DOT) {
          if (this.solAfterCrlf) {
            const avail = end - p
            if (avail >= 3 ? buf[p + 1] === CR && buf[p + 2] === LF : avail === 1 || buf[p + 1] === CR) {
              if (avail < 3) break scan // ".", ".\r": wait for the next byte
              emit(start, p)
              p += 3
              start = p
              this.ended = true
              break scan
            }
          }
          // RFC 5321 §4.5.2: a leading dot is removed
          emit(start, p)
          p += 1
          start = p
        }
        this.sol = false
        continue
      }
      const lf = this.nextLf(p)
      const cr = this.nextCr(p)
      if (cr === end - 1 && lf === end) {
        // a CR at the end of the input may be the first half of a CRLF
        emit(start, cr)
        p = cr
        start = p
        break scan
      }
      if (cr < lf - 1) {
        // a bare CR: not a line end, for dot-stuffing or for the end of the message
        if (this.bareLineEndings === "reject") return this.abort("BareLineEnding", cr + 1)
        if (this.bareLineEndings === "normalize") {
          emit(start, cr)
          parts.push(CRLF)
          start = cr + 1
        }
        p = cr + 1
        continue
      }
      if (lf === end) {
        p = end
        break scan
      }
      const afterCr = lf > 0 && buf[lf - 1] === CR
      this.sol = true
      this.solAfterCrlf = afterCr
      if (!afterCr) {
        // a bare LF ends the line for dot-stuffing, but a dot after it never ends the message
        if (this.bareLineEndings === "reject") return this.abort("BareLineEnding", lf + 1)
        if (this.bareLineEndings === "normalize") {
          emit(start, lf)
          parts.push(CRLF)
          start = lf + 1
        }
      }
      p = lf + 1
    }
    emit(start, p)
    this.pos = p
    // after an abort the scan only looks for the end of the message
    if (this.aborted) return this.ended ? this.pullData() : undefined
    if (parts.length === 0) return this.ended ? this.pullData() : undefined
    const bytes = parts.length === 1 ? parts[0]! : concat(parts)
    this.size += bytes.length
    if (this.maxMessageSize > 0 && this.size > this.maxMessageSize) return this.abort("MessageTooBig", p)
    return { _tag: "Body", bytes }
  }

  private abort(reason: AbortReason, resumeAt: number): Frame {
    this.aborted = true
    this.pos = resumeAt
    return { _tag: "Abort", reason }
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Framer => new Framer(options)

/**
 * Joins byte arrays into one.
 *
 * @since 0.1.0
 * @category utils
 */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
