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

  it("reads dates without a zone in `tz` (Mailpit's search parameter), across DST changes", () => {
    const at = (query: string, tz?: string) => (Search.parse(query, tz)[0] as { readonly at: number }).at
    // NZDT (+13) in January, CEST (+2) in July, EST (-5) in December
    expect(at("before:2026-01-31", "Pacific/Auckland")).toBe(Date.parse("2026-01-30T11:00:00Z"))
    expect(at("after:2026-07-01T10:00", "Europe/Berlin")).toBe(Date.parse("2026-07-01T08:00:00Z"))
    expect(at("after:2026-12-24T18:30:15", "America/New_York")).toBe(Date.parse("2026-12-24T23:30:15Z"))
    // the day Berlin moves to summer time: before the change +1, after it +2
    expect(at("after:2026-03-29T01:30", "Europe/Berlin")).toBe(Date.parse("2026-03-29T00:30:00Z"))
    expect(at("after:2026-03-29T04:00", "Europe/Berlin")).toBe(Date.parse("2026-03-29T02:00:00Z"))
    expect(at("before:2026-01-31", "UTC")).toBe(Date.parse("2026-01-31T00:00:00Z"))
    // a date with its own zone keeps it; without tz, as before
    expect(at("before:2026-01-31T00:00:00Z", "Pacific/Auckland")).toBe(Date.parse("2026-01-31T00:00:00Z"))
    expect(at("before:2026-01-31")).toBe(Date.parse("2026-01-31"))
    expect(Search.isTimeZone("Pacific/Auckland")).toBe(true)
    expect(Search.isTimeZone("Mars/Olympus_Mons")).toBe(false)
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
