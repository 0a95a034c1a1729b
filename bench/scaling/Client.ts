/**
 * The run's own small SMTP client, for what smtp-source cannot do: hold idle connections, stream
 * one large message and time it. Replies are read with the project's ReplyReader.
 */
import type { ChildProcess } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type * as ReplyReader from "../../src/protocol/ReplyReader.js"
import { HOST, ROOT } from "./Options.ts"
import { now, sleep } from "./System.ts"

// Node's type stripping cannot load src/ (its imports name .js files, and it uses parameter
// properties), so the ReplyReader comes from dist/, which `npm run bench:scaling` builds first
const replyReaderUrl = pathToFileURL(path.join(ROOT, "dist/protocol/ReplyReader.js")).href
let replyReaderModule: Promise<typeof ReplyReader> | undefined
const loadReplyReader = (): Promise<typeof ReplyReader> => (replyReaderModule ??= import(replyReaderUrl))

interface Waiter {
  readonly resolve: (code: number) => void
  readonly reject: (e: unknown) => void
}

export class Client {
  readonly sock: net.Socket
  closed = false
  private readonly replies: ReplyReader.ReplyReader
  private waiter: Waiter | undefined = undefined
  private failure: Error | undefined = undefined

  constructor(sock: net.Socket, replies: ReplyReader.ReplyReader) {
    this.sock = sock
    this.replies = replies
    sock.on("data", (d: Buffer) => {
      this.replies.push(d)
      this.check()
    })
    sock.on("error", (e: Error) => {
      this.failure ??= e
      this.check()
    })
    sock.on("close", () => {
      this.closed = true
      this.failure ??= new Error("connection closed by server")
      this.check()
    })
  }

  static async connect(port: number, localAddress: string | null, timeoutS: number): Promise<Client> {
    const { make } = await loadReplyReader()
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: HOST, port, ...(localAddress ? { localAddress } : {}) })
      const timer = setTimeout(() => {
        sock.destroy()
        reject(new Error("connect timeout"))
      }, timeoutS * 1000)
      sock.once("connect", () => {
        clearTimeout(timer)
        sock.setNoDelay(true)
        resolve(new Client(sock, make()))
      })
      sock.once("error", (e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
  }

  // replies that come while nobody waits stay in the reader until the next `reply`
  private check(): void {
    const waiter = this.waiter
    if (waiter === undefined) return
    const reply = this.replies.next()
    if (reply !== undefined) {
      this.waiter = undefined
      if ("_tag" in reply) waiter.reject(new Error(`bad reply line ${JSON.stringify(reply.line.slice(0, 80))}`))
      else waiter.resolve(reply.code)
    } else if (this.failure) {
      this.waiter = undefined
      waiter.reject(this.failure)
    }
  }

  /** The next reply's code, which must be `expect`. */
  reply(expect: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiter = {
        resolve: (code) => (code === expect ? resolve(code) : reject(new Error(`expected ${expect}, got ${code}`))),
        reject
      }
      this.check()
    })
  }

  cmd(line: string, expect: number): Promise<number> {
    this.sock.write(line + "\r\n")
    return this.reply(expect)
  }

  drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure)
      const done = (e?: Error) => {
        this.sock.off("drain", ok)
        this.sock.off("close", bad)
        if (e) reject(e)
        else resolve()
      }
      const ok = () => done()
      const bad = () => done(this.failure || new Error("connection closed"))
      this.sock.once("drain", ok)
      this.sock.once("close", bad)
    })
  }

  /** Closes with a RST: thousands of closes leave no TIME_WAIT behind. */
  abort(): void {
    if (!this.sock.destroyed) this.sock.resetAndDestroy()
    else this.sock.destroy()
  }
}

export const withTimeout = <A>(promise: Promise<A>, s: number, what: string, onTimeout?: () => void): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout?.()
        reject(new Error(`${what}: timeout after ${s}s`))
      }, s * 1000)
    })
  ]).finally(() => clearTimeout(timer))
}

// the body, streamed: headers, then 78-character lines, then the final dot
const LINE = Buffer.from("x".repeat(78) + "\r\n")
const BLOCK = Buffer.concat(Array<Buffer>(819).fill(LINE)) // 65,520 bytes of whole lines
const HEAD = Buffer.from("From: sender@bench.local\r\nTo: rcpt@bench.local\r\nSubject: scaling\r\n\r\n")

function* messageBody(payload: number): Generator<Buffer> {
  yield HEAD
  let left = payload
  while (left >= BLOCK.length) {
    yield BLOCK
    left -= BLOCK.length
  }
  const whole = Math.floor(left / LINE.length)
  if (whole) yield BLOCK.subarray(0, whole * LINE.length)
  const rest = left - whole * LINE.length
  if (rest) yield Buffer.from("y".repeat(Math.max(rest - 2, 1)) + "\r\n")
  yield Buffer.from(".\r\n")
}

export interface Timing {
  /** First body byte written → 250. */
  readonly data_s: number
  /** Connect → 250. */
  readonly session_s: number
}

/** One session, one message of `payload` body bytes. */
export const sendOne = async (port: number, payload: number, timeoutS: number): Promise<Timing> => {
  const held: { c?: Client } = {}
  const go = async (): Promise<Timing> => {
    const t0 = now()
    const c = (held.c = await Client.connect(port, null, 10))
    await c.reply(220)
    await c.cmd("EHLO bench.client", 250)
    await c.cmd("MAIL FROM:<sender@bench.local>", 250)
    await c.cmd("RCPT TO:<rcpt@bench.local>", 250)
    await c.cmd("DATA", 354)
    const t1 = now()
    for (const chunk of messageBody(payload)) {
      if (!c.sock.write(chunk)) await c.drain()
    }
    await c.reply(250)
    const t2 = now()
    await c.cmd("QUIT", 221)
    return { data_s: t2 - t1, session_s: t2 - t0 }
  }
  try {
    return await withTimeout(go(), timeoutS, "message", () => held.c?.abort())
  } finally {
    held.c?.abort()
  }
}

/** A connection that has read the greeting and sent EHLO. */
export const openIdle = async (port: number, localAddress: string, timeoutS: number): Promise<Client> => {
  const held: { c?: Client } = {}
  const go = async (): Promise<Client> => {
    const c = (held.c = await Client.connect(port, localAddress, timeoutS))
    await c.reply(220)
    await c.cmd("EHLO bench.client", 250)
    return c
  }
  try {
    return await withTimeout(go(), timeoutS, "handshake", () => held.c?.abort())
  } catch (e) {
    held.c?.abort()
    throw e
  }
}

/** Waits until a just-started server greets. */
export const waitGreeting = async (port: number, child: ChildProcess, timeoutS: number): Promise<void> => {
  const deadline = now() + timeoutS
  let last: unknown = null
  while (now() < deadline) {
    if (child.exitCode != null || child.signalCode != null)
      throw new Error(`exited (${child.exitCode ?? child.signalCode})`)
    let c: Client | null = null
    try {
      c = await Client.connect(port, null, 3)
      await withTimeout(c.reply(220), 3, "greeting")
      c.abort()
      return
    } catch (e) {
      c?.abort()
      last = e
      await sleep(0.05)
    }
  }
  throw new Error(`no 220 greeting within ${timeoutS}s (${(last as Error | null)?.message})`)
}
