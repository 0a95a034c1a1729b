// POST /api/v1/send's request made into a message: what it builds, parsed back by the inbox's
// parser, and the requests it refuses.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as InboxSend from "../../src/inbox/InboxSend.js"
import * as NodeMimeParser from "../../src/node/NodeMimeParser.js"

describe("InboxSend.build", () => {
  it.effect("text, HTML, an inline image and an attachment, parsed back as sent", () =>
    Effect.gen(function* () {
      const built = InboxSend.build({
        from: { Email: "a@example.com", Name: "Änne" },
        to: [{ Email: "b@example.com", Name: "Bob" }],
        bcc: ["hidden@example.com"],
        subject: "Grüße",
        text: "plain",
        html: '<p>html <img src="cid:logo"></p>',
        attachments: [
          {
            Filename: "logo.png",
            Content: "data:image/png;base64,iVBORw0K",
            ContentType: "image/png",
            ContentID: "logo"
          },
          { Filename: "a.txt", Content: Buffer.from("attached").toString("base64") }
        ],
        headers: { "X-Custom": "yes" },
        tags: ["one", "two"]
      })
      expect(Result.isSuccess(built)).toBe(true)
      const { envelope, raw } = Result.getOrThrow(built)
      expect(envelope).toEqual({ mailFrom: "a@example.com", recipients: ["b@example.com", "hidden@example.com"] })
      const parsed = yield* NodeMimeParser.parse(raw)
      expect(parsed.from).toEqual({ Name: "Änne", Address: "a@example.com" })
      expect(parsed.subject).toBe("Grüße")
      expect(parsed.text.trim()).toBe("plain")
      expect(parsed.html).toContain('src="cid:logo"')
      expect(parsed.inline.map((p) => [p.FileName, p.ContentID])).toEqual([["logo.png", "logo"]])
      expect(parsed.attachments.map((p) => p.FileName)).toEqual(["a.txt"])
      expect(new TextDecoder().decode(parsed.contents.get(parsed.attachments[0]!.PartID))).toBe("attached")
      expect(parsed.tags).toEqual(["one", "two"])
      expect(parsed.headers).toContainEqual(["X-Custom", "yes"])
      // the Bcc is an envelope recipient, not a header
      expect(new TextDecoder().decode(raw)).not.toContain("hidden@example.com")
    })
  )

  it("refuses a missing or bad From, no recipients, protected or broken headers, bad base64", () => {
    const failure = (request: Record<string, unknown>) => Result.getFailure(InboxSend.build(request))
    const to = [{ Email: "b@example.com" }]
    expect(failure({ to })._tag).toBe("Some")
    expect(failure({ from: { Email: "not an address" }, to })).toEqual(
      expect.objectContaining({ value: "invalid From address: not an address" })
    )
    expect(failure({ from: { Email: "a@example.com" } })).toEqual(expect.objectContaining({ value: "no recipients" }))
    expect(failure({ from: { Email: "a@example.com" }, to, headers: { Subject: "x" } })).toEqual(
      expect.objectContaining({ value: 'cannot overwrite header: "Subject"' })
    )
    expect(failure({ from: { Email: "a@example.com" }, to, headers: { "X-A": "b\r\nBcc: evil@example.com" } })).toEqual(
      expect.objectContaining({ value: 'invalid header: "X-A"' })
    )
    expect(
      failure({ from: { Email: "a@example.com" }, to, attachments: [{ Filename: "x", Content: "!!not base64!!" }] })
    ).toEqual(expect.objectContaining({ value: 'error decoding base64 attachment "x"' }))
  })
})
