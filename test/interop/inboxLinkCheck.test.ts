// Mailpit's link check (GET /api/v1/message/{ID}/link-check), called through mailpit-api: the
// links of a message's HTML and text, each asked for from a web server of the test's own on
// loopback; redirects reported, or followed with follow=true; HEAD refused, then GET; a server
// that is not there is a link with no answer.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MailpitClient } from "mailpit-api"
import { builtCommand } from "../utils/command.js"
import { inboxProcess, request } from "../utils/inboxProcess.js"
import { webServer } from "../utils/linkServer.js"
import { freePort } from "../utils/upstreams.js"

const main = builtCommand()
const call = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("the inbox's link check", () => {
  it.live("asks for each link of the HTML and the text once; follows redirects when asked", () =>
    Effect.gen(function* () {
      const web = yield* webServer
      const down = `http://127.0.0.1:${yield* freePort}/gone`
      const inbox = yield* inboxProcess(main)
      const html =
        `<p><a href="${web}/ok">ok</a> <a href='${web}/moved'>moved</a> <img src=${web}/missing.png>` +
        ` <a href="mailto:someone@example.com">mail</a> <a href="${web}/ok?a=1&amp;b=2">query</a>` +
        ` <a href="${web}/ok">again</a></p>`
      const sent = yield* request(inbox.web, "/api/v1/send", {
        method: "POST",
        json: {
          From: { Email: "app@example.com" },
          To: [{ Email: "ann@example.net" }],
          Subject: "Links",
          HTML: html,
          Text: `See ${web}/get-only. And ${down}, or ftp://example.com/file.`
        }
      })
      expect(sent.status, sent.text).toBe(200)
      const mailpit = new MailpitClient(inbox.web)

      const plain = yield* call(() => mailpit.linkCheck("latest"))
      expect(plain.Links).toEqual([
        { URL: `${web}/ok`, StatusCode: 200, Status: "OK" },
        { URL: `${web}/moved`, StatusCode: 301, Status: "Moved Permanently" },
        { URL: `${web}/missing.png`, StatusCode: 404, Status: "Not Found" },
        { URL: `${web}/ok?a=1&b=2`, StatusCode: 200, Status: "OK" },
        { URL: `${web}/get-only`, StatusCode: 200, Status: "OK" },
        { URL: down, StatusCode: 0, Status: "no answer" }
      ])
      expect(plain.Errors).toBe(2)

      const followed = yield* call(() => mailpit.linkCheck(JSON.parse(sent.text).ID, true))
      expect(followed.Links[1]).toEqual({ URL: `${web}/moved`, StatusCode: 200, Status: "OK" })
      expect(followed.Errors).toBe(2)

      const missing = yield* request(inbox.web, "/api/v1/message/no-such-id/link-check")
      expect(missing.status).toBe(404)
    }).pipe(Effect.scoped)
  )
})
