// spamd's REPORT answer read: the verdict, the score, the rules (a long description continued on
// its own lines); a refusal or an answer that is no answer gives the reason instead.
import { describe, expect, it } from "@effect/vitest"
import * as SpamCheck from "../../src/inbox/SpamCheck.js"

const report = [
  "SPAMD/1.1 0 EX_OK",
  "Content-length: 400",
  "Spam: False ; 2.4 / 5.0",
  "",
  'Spam detection software, running on the system "vm",',
  "",
  "Content analysis details:   (2.4 points, 5.0 required)",
  "",
  " pts rule name              description",
  "---- ---------------------- --------------------------------------------------",
  "-0.0 NO_RELAYS              Informational: message was not relayed via SMTP",
  " 2.7 MISSING_DATE           Missing Date: header",
  " 0.1 URIBL_BLOCKED          ADMINISTRATOR NOTICE: The query to URIBL was",
  "                            blocked.  See",
  "                            http://wiki.apache.org/spamassassin/DnsBlocklists",
  "-0.4 SOME_RULE              Negative",
  "",
  ""
].join("\r\n")

describe("SpamCheck.parseReport", () => {
  it("reads the verdict, score and rules", () => {
    expect(SpamCheck.parseReport(report)).toEqual({
      Error: "",
      IsSpam: false,
      Score: 2.4,
      Rules: [
        { Name: "NO_RELAYS", Score: -0, Description: "Informational: message was not relayed via SMTP" },
        { Name: "MISSING_DATE", Score: 2.7, Description: "Missing Date: header" },
        {
          Name: "URIBL_BLOCKED",
          Score: 0.1,
          Description:
            "ADMINISTRATOR NOTICE: The query to URIBL was blocked.  See http://wiki.apache.org/spamassassin/DnsBlocklists"
        },
        { Name: "SOME_RULE", Score: -0.4, Description: "Negative" }
      ]
    })
    expect(SpamCheck.parseReport("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1003.3 / 5.0\r\n\r\n")).toEqual({
      Error: "",
      IsSpam: true,
      Score: 1003.3,
      Rules: []
    })
  })

  it("gives the reason when there is no verdict", () => {
    expect(SpamCheck.parseReport("SPAMD/1.0 76 Bad header line: x\r\n").Error).toBe(
      "spamd refused the message: Bad header line: x"
    )
    expect(SpamCheck.parseReport("").Error).toBe("spamd's answer could not be read")
    expect(SpamCheck.parseReport("SPAMD/1.1 0 EX_OK\r\n\r\nno header").Error).toBe("spamd's answer has no verdict")
    expect(SpamCheck.parseReport("HTTP/1.1 200 OK\r\n\r\n").Rules).toBeNull()
  })
})
