/**
 * The whole server: recipients in the list domain go to the mailing lists, all others are
 * relayed (for clients in `relayNetworks`, loopback by default), both through one upstream.
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import type * as SmtpClient from "../../src/client/SmtpClient.js"
import * as Relay from "../../src/handlers/Relay.js"
import * as Router from "../../src/handlers/Router.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import type * as Lists from "./Lists.js"
import * as MailingList from "./MailingList.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly lists: Lists.Lists
  readonly upstream: SmtpClient.Options
  /** Passed to `NodeSmtpServer.layer` (`listen`, `hostname`, limits). */
  readonly server?: NodeSmtpServer.Options | undefined
}

/**
 * The message handler: the list domain's route, and the relay for everything else.
 *
 * @since 0.1.0
 * @category layers
 */
export const handler = (options: Options) =>
  Router.layer({
    routes: [
      Router.domain(options.lists.domain, MailingList.layer({ lists: options.lists, upstream: options.upstream }))
    ],
    fallback: Relay.layer({ upstream: options.upstream })
  })

/**
 * The server on Node sockets, with the Node SMTP client.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) =>
  NodeSmtpServer.layer(options.server).pipe(Layer.provide(handler(options)), Layer.provide(NodeSmtpClient.layer))
