/**
 * Prompt collection of socket read buffers. Node reads every chunk into a fresh buffer outside
 * the JavaScript heap, and V8 runs a young-generation collection for that kind of memory only
 * once 32 MiB of it is waiting (twice its largest semi-space), not when the heap fills. So while
 * a large message streams through, 32-40 MiB of dead read buffers are held at any time, whatever
 * the handler does with the chunks. `collectEvery(bytes)` runs that collection once `bytes` have
 * been read by the process's sockets since the last one (V8's own included): a scavenge of a
 * heap whose young objects are mostly dead takes well under a millisecond, and it lowers the
 * peak by the difference.
 *
 * Process-wide, as the heap is. Off unless a program turns it on; the `effect-smtpd` command
 * does (bench/README.md has the measurements).
 *
 * @since 0.1.0
 */
import { constants, PerformanceObserver } from "node:perf_hooks"
import * as V8 from "node:v8"
import * as Vm from "node:vm"

let every = 0
let pending = 0
let collect: () => void = () => {}

// V8's own young collections free the buffers too: the count restarts with each of them
const collections = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (
      (entry as { readonly detail?: { readonly kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR
    )
      pending = 0
  }
})

/**
 * Run a young-generation collection once `bytes` have been read by sockets since the last one
 * (0 turns it off).
 *
 * @since 0.1.0
 * @category configuration
 */
export const collectEvery = (bytes: number): void => {
  if (bytes > 0 && every === 0) {
    // V8's gc extension, in a context of its own: the program's global object gets no `gc`
    V8.setFlagsFromString("--expose-gc")
    const gc = Vm.runInNewContext("gc") as (options: { readonly type: "minor" }) => void
    collect = () => gc({ type: "minor" })
    collections.observe({ entryTypes: ["gc"] })
  } else if (bytes <= 0 && every > 0) {
    collections.disconnect()
  }
  every = Math.max(0, bytes)
  pending = 0
}

/**
 * Count `bytes` read by a socket (NodeTransport calls it for every chunk).
 *
 * @since 0.1.0
 * @category accounting
 */
export const read = (bytes: number): void => {
  if (every === 0) return
  pending += bytes
  if (pending < every) return
  pending = 0
  collect()
}
