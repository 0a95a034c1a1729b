// A minimal SMTP-ish sink on 127.0.0.1:2791, one reader per connection, to see what a per-session
// generator does to V8's young-generation collections (docs/performance/gc.md, "What a session's
// fiber leaves to the old generation"). MODE picks how each connection reads its lines:
//
//   plain    the socket's data callback steps the lines itself
//   jsgen    a JavaScript generator, resumed from the data callback
//   effect   an Effect.gen loop in a fiber, waiting in Effect.callback
//   flatmap  the same loop as Effect.suspend / Effect.flatMap, no generator
//   async    an async function awaiting a promise
//   shared   as jsgen, but one generator function for every connection (the connection's
//            functions as its arguments) instead of a closure made per connection
//
//   MODE=jsgen node_modules/.bin/node --trace-gc bench/gc-generator.mjs &
//   taskset -c 0 smtp-source -s 1 -m 8000 -l 4096 127.0.0.1:2791
//
// jsgen and effect promote ~1 MB per scavenge (the heap after each one grows) and their
// scavenges take 2–3 ms; plain, flatmap and async promote nothing and take 0.4–1 ms.
import { Effect } from "effect"
import * as Net from "node:net"

const mode = process.env.MODE ?? "effect"

// the generator of `shared`, made once
function* lines(nextLine, handle) {
  while (true) {
    const line = nextLine()
    if (line === undefined) yield
    else if (!handle(line)) return
  }
}

const serve = (socket) => {
  let buf = ""
  let inData = false
  let wake = undefined
  // one line: its reply; false once the session is over
  const handle = (line) => {
    if (inData) {
      if (line === ".") ((inData = false), socket.write("250 ok\r\n"))
      return true
    }
    if (line.startsWith("QUIT")) return (socket.end("221 bye\r\n"), false)
    if (line.startsWith("DATA")) inData = true
    socket.write(
      line.startsWith("DATA") ? "354 go\r\n" : line.startsWith("EHLO") ? "250-x\r\n250 PIPELINING\r\n" : "250 ok\r\n"
    )
    return true
  }
  // the next whole line, if one is buffered
  const nextLine = () => {
    const i = buf.indexOf("\n")
    if (i < 0) return undefined
    const line = buf.slice(0, i).replace(/\r$/, "")
    buf = buf.slice(i + 1)
    return line
  }
  socket.on("error", () => {})
  socket.on("data", (chunk) => {
    buf += chunk
    const waiting = wake
    wake = undefined
    waiting?.()
  })
  socket.write("220 x ESMTP\r\n")
  const read = Effect.callback((resume) => {
    if (buf.includes("\n")) return resume(Effect.void)
    wake = () => resume(Effect.void)
  })
  switch (mode) {
    case "plain": {
      wake = function step() {
        for (let line = nextLine(); line !== undefined; line = nextLine()) if (!handle(line)) return
        wake = step
      }
      return
    }
    case "jsgen": {
      const it = (function* () {
        while (true) {
          const line = nextLine()
          if (line === undefined) yield
          else if (!handle(line)) return
        }
      })()
      const step = () => {
        if (!it.next().done) wake = step
      }
      return step()
    }
    case "shared": {
      const it = lines(nextLine, handle)
      const step = () => {
        if (!it.next().done) wake = step
      }
      return step()
    }
    case "effect":
      return void Effect.runFork(
        Effect.gen(function* () {
          while (true) {
            const line = nextLine()
            if (line === undefined) yield* read
            else if (!handle(line)) return
          }
        })
      )
    case "flatmap": {
      const loop = Effect.suspend(() => {
        const line = nextLine()
        if (line === undefined) return Effect.flatMap(read, () => loop)
        return handle(line) ? loop : Effect.void
      })
      return void Effect.runFork(loop)
    }
    case "async":
      return void (async () => {
        while (true) {
          const line = nextLine()
          if (line === undefined) await new Promise((resolve) => (wake = resolve))
          else if (!handle(line)) return
        }
      })()
  }
}

Net.createServer({ noDelay: true }, serve).listen(2791, "127.0.0.1")
