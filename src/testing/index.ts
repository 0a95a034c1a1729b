/**
 * `effect-smtpd/testing`: the server in memory, for your tests and ours.
 *
 * @since 0.1.0
 */
export * as SmtpTest from "./SmtpTest.js"
export * as TestTransport from "./TestTransport.js"
export * as Fixtures from "./Fixtures.js"
export * as TestDialer from "./TestDialer.js"
