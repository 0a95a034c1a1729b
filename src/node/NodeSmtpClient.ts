/**
 * The SMTP client over Node sockets.
 *
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import * as SmtpClient from "../client/SmtpClient.js"
import * as NodeDialer from "./NodeDialer.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<SmtpClient.SmtpClient> = SmtpClient.layer.pipe(Layer.provide(NodeDialer.layer))
