// Mailpit's search syntax: the terms parsed, and the same terms run against a store.
import { describe, expect, it } from "@effect/vitest"
import * as Search from "../../src/inbox/Search.js"

describe("Search.parse", () => {
  it("words, quoted phrases, fields, negation, flags and dates", () => {
    expect(Search.parse('hello "big news" from:Alice@Example.com -subject:spam !to:"Bob Smith"')).toEqual([
      { _tag: "Contains", field: "text", value: "hello", negated: false },
      { _tag: "Contains", field: "text", value: "big news", negated: false },
      { _tag: "Contains", field: "from", value: "alice@example.com", negated: false },
      { _tag: "Contains", field: "subject", value: "spam", negated: true },
      { _tag: "Contains", field: "to", value: "bob smith", negated: true }
    ])
    expect(Search.parse("is:unread -is:read has:attachments")).toEqual([
      { _tag: "Read", read: false, negated: false },
      { _tag: "Read", read: true, negated: true },
      { _tag: "HasAttachment", negated: false }
    ])
    expect(Search.parse("has:inline is:tagged larger:10k smaller:1.5m -larger:100")).toEqual([
      { _tag: "HasInline", negated: false },
      { _tag: "Tagged", negated: false },
      { _tag: "Size", larger: true, bytes: 10240, negated: false },
      { _tag: "Size", larger: false, bytes: 1572864, negated: false },
      { _tag: "Size", larger: true, bytes: 100, negated: true }
    ])
    expect(Search.parse("after:2026-01-31 before:2026-02-01")).toEqual([
      { _tag: "Date", before: false, at: Date.parse("2026-01-31"), negated: false },
      { _tag: "Date", before: true, at: Date.parse("2026-02-01"), negated: false }
    ])
  })

  it("leaves out what means nothing: empty fields, dates that are none, a lone dash", () => {
    expect(Search.parse("from: before:someday   -  ")).toEqual([])
    expect(Search.parse("")).toEqual([])
    // an unknown prefix is just text
    expect(Search.parse("x-mailer:foo")).toEqual([
      { _tag: "Contains", field: "text", value: "x-mailer:foo", negated: false }
    ])
  })
})
