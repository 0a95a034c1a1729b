/**
 * Starting a session on a transport (`Live` is the session, `SessionLoop` its fiber). The
 * session's states (parked, inline, forked, ended) and who holds what: docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import * as Hooks from "./Hooks.js"
import type { Environment, Handle } from "./Environment.js"
import { Live } from "./Live.js"
import * as SessionLoop from "./SessionLoop.js"
import type * as Transport from "./Transport.js"

export type { Environment, Handle } from "./Environment.js"

/**
 * Starts one session on `transport`, served until QUIT, a close by either side, a fatal error,
 * or shutdown; the transport is closed when it ends, and then `onEnd` runs. The greeting goes
 * out at once. A session whose input needs no effect (the Sink's) runs with no fiber, parked on
 * its transport; the first command that needs one forks the fiber that serves the rest.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (transport: Transport.Transport, env: Environment): Handle => {
  const live = new Live(transport, env, SessionLoop.run)
  // an early talker: its commands were written before it could have read our greeting
  if (env.config.forbidUnauthPipelining && transport.hasInput?.() === true) {
    live.send(Reply.protocolViolation)
    live.hangUp()
    return live
  }
  // a handler's `session` or `connect` hook runs before the greeting, in the fiber
  if (Hooks.opens(env.handler)) {
    live.wake()
    return live
  }
  live.send(env.greeting ?? Protocol.greeting(env.config.protocol))
  // (a traced greeting is logged by the fiber's flush)
  if (env.config.trace || !live.writeNow() || !live.reader.park()) live.wake()
  return live
}
