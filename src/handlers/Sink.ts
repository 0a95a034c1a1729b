/**
 * Accepts every message and discards it (aiosmtpd's `Sink`): for benchmarks, and for tests
 * that only care that mail was sent.
 *
 * @since 0.1.0
 */
import type * as Layer from "effect/Layer"
import * as MessageHandler from "../handler/MessageHandler.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<MessageHandler.MessageHandler> = MessageHandler.layer({})
