// The list's snippet: the start of the text (else of the HTML, its tags and entities gone),
// whitespace collapsed, at most 250 characters counted as code points, "..." when cut.
import { describe, expect, it } from "@effect/vitest"
import * as InboxMessage from "../../src/inbox/InboxMessage.js"

describe("InboxMessage.snippet", () => {
  it("keeps 250 characters, whole astral ones, and says when it cut", () => {
    expect(InboxMessage.snippet({ text: "  Hello,\r\n\r\n  world.  ", html: "" })).toBe("Hello, world.")
    expect(InboxMessage.snippet({ text: "a".repeat(250), html: "" })).toBe("a".repeat(250))
    expect(InboxMessage.snippet({ text: "a".repeat(251), html: "" })).toBe(`${"a".repeat(250)}...`)
    // each emoji is one character (two UTF-16 units): never cut in half
    expect(InboxMessage.snippet({ text: "😀".repeat(300), html: "" })).toBe(`${"😀".repeat(250)}...`)
    expect(InboxMessage.snippet({ text: `${"😀".repeat(249)}ab`, html: "" })).toBe(`${"😀".repeat(249)}a...`)
    // a long text: its start is enough; one whose start is mostly blank is read further
    expect(InboxMessage.snippet({ text: "word \r\n".repeat(1000), html: "" })).toBe(`${"word ".repeat(50)}...`)
    expect(InboxMessage.snippet({ text: `a${" ".repeat(1000)}${"b".repeat(300)}`, html: "" })).toBe(
      `a ${"b".repeat(248)}...`
    )
    expect(
      InboxMessage.snippet({ text: " ", html: "<style>p{}</style><p>Caf&eacute; &amp; <b>bar</b>&nbsp;&lt;3</p>" })
    ).toBe("Caf&eacute; & bar <3")
  })
})
