/**
 * effect-smtpd: an SMTP server library for Effect. Each module is a namespace.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Address from "./protocol/Address.js"

/**
 * @since 0.1.0
 */
export * as Command from "./protocol/Command.js"

/**
 * @since 0.1.0
 */
export * as Framer from "./protocol/Framer.js"

/**
 * @since 0.1.0
 */
export * as Parameters from "./protocol/Parameters.js"

/**
 * @since 0.1.0
 */
export * as Protocol from "./protocol/Protocol.js"

/**
 * @since 0.1.0
 */
export * as Reply from "./protocol/Reply.js"

/**
 * @since 0.1.0
 */
export * as Session from "./protocol/Session.js"

/**
 * @since 0.1.0
 */
export * as Metrics from "./server/Metrics.js"

/**
 * @since 0.1.0
 */
export * as ServerConfig from "./server/ServerConfig.js"

/**
 * @since 0.1.0
 */
export * as SmtpError from "./protocol/SmtpError.js"

/**
 * @since 0.1.0
 */
export * as Endpoint from "./protocol/Endpoint.js"

/**
 * @since 0.1.0
 */
export * as SmtpServer from "./server/SmtpServer.js"

/**
 * @since 0.1.0
 */
export * as Message from "./handler/Message.js"

/**
 * @since 0.1.0
 */
export * as MessageHandler from "./handler/MessageHandler.js"

/**
 * @since 0.1.0
 */
export * as SessionInfo from "./handler/SessionInfo.js"

/**
 * @since 0.1.0
 */
export * as Debugging from "./handlers/Debugging.js"

/**
 * @since 0.1.0
 */
export * as Maildir from "./handlers/Maildir.js"

/**
 * @since 0.1.0
 */
export * as ProcessMessage from "./handlers/ProcessMessage.js"

/**
 * @since 0.1.0
 */
export * as Recording from "./handlers/Recording.js"

/**
 * @since 0.1.0
 */
export * as Sink from "./handlers/Sink.js"

/**
 * @since 0.1.0
 */
export * as NodeSmtpServer from "./node/NodeSmtpServer.js"

/**
 * @since 0.1.0
 */
export * as MetricsText from "./server/MetricsText.js"

/**
 * @since 0.1.0
 */
export * as MetricsEndpoint from "./node/MetricsEndpoint.js"

/**
 * @since 0.1.0
 */
export * as DataEncoder from "./protocol/DataEncoder.js"

/**
 * @since 0.1.0
 */
export * as ReplyReader from "./protocol/ReplyReader.js"

/**
 * @since 0.1.0
 */
export * as Networks from "./server/Networks.js"

/**
 * @since 0.1.0
 */
export * as SmtpClient from "./client/SmtpClient.js"

/**
 * @since 0.1.0
 */
export * as ClientError from "./client/ClientError.js"

/**
 * @since 0.1.0
 */
export * as Dialer from "./client/Dialer.js"

/**
 * @since 0.1.0
 */
export * as Extensions from "./client/Extensions.js"

/**
 * @since 0.1.0
 */
export * as Relay from "./handlers/Relay.js"

/**
 * @since 0.1.0
 */
export * as Router from "./handlers/Router.js"

/**
 * @since 0.1.0
 */
export * as Refusals from "./handlers/Refusals.js"

/**
 * @since 0.1.0
 */
export * as FanOut from "./handlers/FanOut.js"

/**
 * @since 0.1.0
 */
export * as NodeSmtpClient from "./node/NodeSmtpClient.js"

/**
 * @since 0.1.0
 */
export * as NodeDialer from "./node/NodeDialer.js"

/**
 * @since 0.1.0
 */
export * as Sasl from "./protocol/Sasl.js"

/**
 * @since 0.1.0
 */
export * as ProxyHeader from "./protocol/ProxyHeader.js"

/**
 * @since 0.1.0
 */
export * as Authenticator from "./auth/Authenticator.js"

/**
 * @since 0.1.0
 */
export * as Passwords from "./auth/Passwords.js"

/**
 * @since 0.1.0
 */
export * as NodeTls from "./node/NodeTls.js"

/**
 * @since 0.1.0
 */
export * as SmtpSession from "./session/SmtpSession.js"

/**
 * @since 0.2.0
 */
export * as Verdicts from "./handler/Verdicts.js"

/**
 * @since 0.2.0
 */
export * as Dsn from "./protocol/Dsn.js"

/**
 * @since 0.2.0
 */
export * as Received from "./handlers/Received.js"

/**
 * @since 0.2.0
 */
export * as MailQueue from "./queue/MailQueue.js"

/**
 * @since 0.2.0
 */
export * as SqlMailQueue from "./queue/SqlMailQueue.js"

/**
 * @since 0.2.0
 */
export * as Delivery from "./queue/Delivery.js"

/**
 * @since 0.2.0
 */
export * as Backoff from "./queue/Backoff.js"

/**
 * @since 0.2.0
 */
export * as Bounce from "./queue/Bounce.js"

/**
 * @since 0.2.0
 */
export * as Inbox from "./inbox/Inbox.js"

/**
 * @since 0.2.0
 */
export * as InboxMessage from "./inbox/InboxMessage.js"

/**
 * @since 0.2.0
 */
export * as InboxHandler from "./inbox/InboxHandler.js"

/**
 * @since 0.2.0
 */
export * as InboxClient from "./inbox/InboxClient.js"

/**
 * @since 0.2.0
 */
export * as SqlInbox from "./inbox/SqlInbox.js"
