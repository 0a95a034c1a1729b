// DSN parameters (RFC 3461) through the client: MAIL's RET and ENVID, RCPT's NOTIFY and ORCPT go
// to a server that offers DSN and are left out for one that does not (§4: a relay to a non-DSN
// server drops them). Against Postfix's smtp-sink, which offers DSN unless -N.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as SmtpClient from "../../src/client/SmtpClient.js"
import { body, connect } from "../utils/smtpClient.js"
import { skipWithout } from "../utils/tools.js"
import { smtpSink } from "../utils/upstreams.js"

const withDsn: SmtpClient.Envelope = {
  mailFrom: "s@example.com",
  mailParameters: [
    { keyword: "RET", value: "HDRS" },
    { keyword: "ENVID", value: "QQ314159+2B" }
  ],
  recipients: [
    {
      address: "a@example.com",
      parameters: [
        { keyword: "NOTIFY", value: "SUCCESS,FAILURE" },
        { keyword: "ORCPT", value: "rfc822;a+2Bx@example.com" }
      ]
    },
    { address: "b@example.com", parameters: [{ keyword: "NOTIFY", value: "NEVER" }] }
  ]
}

describe.skipIf(skipWithout("postfix"))("SmtpClient with DSN parameters, against smtp-sink", () => {
  it.live("a server that offers DSN gets RET, ENVID, NOTIFY and ORCPT as given", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink()
      const connection = yield* connect({ host: sink.host, port: sink.port })
      expect(connection.extensions.has("DSN")).toBe(true)
      const result = yield* connection.send(withDsn, body("Subject: dsn\r\n\r\nx\r\n"))
      expect(result.accepted).toEqual(["a@example.com", "b@example.com"])
      const dump = yield* sink.dump(1)
      expect(dump).toContain("X-Mail-Args: <s@example.com> RET=HDRS ENVID=QQ314159+2B\n")
      expect(dump.match(/^X-Rcpt-Args: .*$/gm)).toEqual([
        "X-Rcpt-Args: <a@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bx@example.com",
        "X-Rcpt-Args: <b@example.com> NOTIFY=NEVER"
      ])
    })
  )

  it.live("a server without DSN (-N): the parameters are left out, the message still goes", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink(["-N"])
      const connection = yield* connect({ host: sink.host, port: sink.port })
      expect(connection.extensions.has("DSN")).toBe(false)
      const result = yield* connection.send(withDsn, body("Subject: dsn\r\n\r\nx\r\n"))
      expect(result.accepted).toEqual(["a@example.com", "b@example.com"])
      // step by step too
      yield* connection.mail("s@example.com", [{ keyword: "RET", value: "FULL" }])
      yield* connection.rcpt("c@example.com", [{ keyword: "NOTIFY", value: "DELAY" }])
      yield* connection.data(body("y\r\n"))
      const dump = yield* sink.dump(2)
      expect(dump.match(/^X-Mail-Args: .*$/gm)).toEqual([
        "X-Mail-Args: <s@example.com>",
        "X-Mail-Args: <s@example.com>"
      ])
      expect(dump.match(/^X-Rcpt-Args: .*$/gm)).toEqual([
        "X-Rcpt-Args: <a@example.com>",
        "X-Rcpt-Args: <b@example.com>",
        "X-Rcpt-Args: <c@example.com>"
      ])
    })
  )
})
