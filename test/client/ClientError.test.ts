// toSmtpError: what our server answers its own client for each way an upstream failed.
import { describe, expect, it } from "@effect/vitest"
import { toSmtpError, UpstreamRefused, UpstreamUnavailable, UpstreamUnsupported } from "../../src/client/ClientError.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"

describe("toSmtpError", () => {
  it("a 421 becomes 451 with its lines kept (it is not our session that closes)", () => {
    const error = new UpstreamRefused({
      command: "MAIL",
      reply: Reply.make(421, "4.3.2", ["mx.upstream.test", "Service shutting down"])
    })
    expect(SmtpError.reply(toSmtpError(error))).toEqual(
      Reply.make(451, "4.3.2", ["mx.upstream.test", "Service shutting down"])
    )
    const bare = new UpstreamRefused({ command: "MAIL", reply: Reply.make(421, undefined, "closing") })
    expect(SmtpError.reply(toSmtpError(bare))).toEqual(Reply.make(451, "4.4.1", "closing"))
  })

  it("a refusal passes as it was", () => {
    const reply = Reply.make(550, "5.1.1", ["No such user", "here"])
    expect(SmtpError.reply(toSmtpError(new UpstreamRefused({ command: "RCPT", reply })))).toEqual(reply)
    const transient = Reply.make(452, "4.2.2", "Mailbox full")
    expect(SmtpError.reply(toSmtpError(new UpstreamRefused({ command: "RCPT", reply: transient })))).toEqual(transient)
  })

  it("an unreachable upstream is 451 4.4.1 and its detail is not told", () => {
    for (const reason of ["connect", "timeout", "closed", "protocol", "tls", "auth"] as const) {
      const reply = SmtpError.reply(
        toSmtpError(new UpstreamUnavailable({ reason, detail: "secret.internal:2525 said password=hunter2" }))
      )
      expect(reply).toEqual(Reply.make(451, "4.4.1", "Upstream server unavailable, try again later"))
    }
  })

  it("a missing extension is permanent: 554 5.6.3 for 8BITMIME and BINARYMIME, 553 5.6.7 for SMTPUTF8", () => {
    expect(SmtpError.reply(toSmtpError(new UpstreamUnsupported({ extension: "8BITMIME" })))).toEqual(
      Reply.make(554, "5.6.3", "Upstream server does not accept 8-bit content")
    )
    expect(SmtpError.reply(toSmtpError(new UpstreamUnsupported({ extension: "BINARYMIME" })))).toEqual(
      Reply.make(554, "5.6.3", "Upstream server does not accept binary content")
    )
    expect(SmtpError.reply(toSmtpError(new UpstreamUnsupported({ extension: "SMTPUTF8" })))).toEqual(
      Reply.make(553, "5.6.7", "Upstream server does not accept UTF-8 addresses")
    )
  })
})
