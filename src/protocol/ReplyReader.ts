/**
 * Reads an SMTP server's replies from bytes, for the client: multi-line replies are gathered
 * into one `Reply`. Pure and incremental, like the Framer it splits lines with.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Framer from "./Framer.js"
import * as Reply from "./Reply.js"

/**
 * A line that is not `ddd`, `ddd text` or `ddd-text`, a code that changes within a reply, or a
 * reply too long to hold: the client's side of a conversation with a broken server, which the
 * relay answers `451 4.4.1` (`ClientError.toSmtpError` of the unavailable upstream).
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedReply extends Data.TaggedError("MalformedReply")<{ readonly line: string }> {}

const replyLine = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s
const decoder = new TextDecoder()

/**
 * @since 0.1.0
 * @category models
 */
export class ReplyReader {
  private readonly framer: Framer.Framer
  private lines: Array<string> = []
  private code: string | undefined

  constructor(private readonly maxLines: number) {
    // 4096 octets a line is twice what any server sends; a hostile one cannot make us buffer more
    this.framer = Framer.make({ maxLineLength: 4096 })
  }

  /** Adds input from the server. */
  push(chunk: Uint8Array): void {
    this.framer.push(chunk)
  }

  /** The next whole reply, `undefined` until more input comes, or why the input is not SMTP. */
  next(): Reply.Reply | MalformedReply | undefined {
    while (true) {
      const frame = this.framer.pull()
      if (frame === undefined) return undefined
      if (frame._tag !== "Line") return new MalformedReply({ line: "(line too long)" })
      const line = decoder.decode(frame.bytes)
      const match = replyLine.exec(line)
      if (match === null || (this.code !== undefined && match[1] !== this.code)) {
        return new MalformedReply({ line: line.slice(0, 200) })
      }
      this.code = match[1]!
      this.lines.push(`${match[1]} ${match[3] ?? ""}`)
      if (match[2] === "-") {
        if (this.lines.length >= this.maxLines) return new MalformedReply({ line: "(too many lines)" })
        continue
      }
      const reply = Reply.decode(this.lines.join("\r\n"))
      this.lines = []
      this.code = undefined
      return reply
    }
  }

  /** Input that came after the last whole reply (a server may not send any after 220 to STARTTLS). */
  get hasPending(): boolean {
    return this.lines.length > 0 || this.framer.buffered > 0
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly maxLines?: number } = {}): ReplyReader =>
  new ReplyReader(options.maxLines ?? 100)
