// The links a link check asks for: http(s) only, each once, entities decoded, a sentence's
// punctuation left out.
import { describe, expect, it } from "@effect/vitest"
import * as LinkCheck from "../../src/inbox/LinkCheck.js"

describe("LinkCheck.links", () => {
  it("takes href and src in any quoting, and the text's URLs; nothing else", () => {
    const html = [
      `<A HREF="https://a.example/x?y=1&amp;z=2">a</A>`,
      `<img alt="i" src='http://b.example/i.png'>`,
      `<link rel=stylesheet href=https://c.example/s.css>`,
      `<a href="mailto:x@example.com">m</a> <a href="javascript:alert(1)">j</a> <a href="#top">t</a>`,
      `<a data-href="https://not.example/">no</a> <p>https://d.example/in-html-text</p>`
    ].join("\n")
    const text =
      "Go to https://e.example/page. Or (http://f.example/a), https://a.example/x?y=1&z=2 again; ftp://g.example/"
    expect(LinkCheck.links({ html, text })).toEqual([
      "https://a.example/x?y=1&z=2",
      "http://b.example/i.png",
      "https://c.example/s.css",
      "https://e.example/page",
      "http://f.example/a"
    ])
    expect(LinkCheck.links({ html: "", text: "" })).toEqual([])
  })
})
