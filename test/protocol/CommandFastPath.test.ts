import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as FastCheck from "fast-check"
import * as Arbitraries from "../utils/arbitraries.js"
import * as Command from "../../src/protocol/Command.js"

// decodeLine decides well-formed commands without the Schema interpreter; it must agree with
// the schema codec on every line, valid or not.
const bySchema = (line: string) => Schema.decodeResult(Command.CommandFromLine)(line)

const agree = (line: string) => {
  const fast = Command.decodeLine(line)
  const slow = bySchema(line)
  expect(Result.isSuccess(fast)).toBe(Result.isSuccess(slow))
  if (Result.isSuccess(fast) && Result.isSuccess(slow)) expect(fast.success).toStrictEqual(slow.success)
}

const lineParts = FastCheck.constantFrom(
  "MAIL FROM:",
  "RCPT TO:",
  "HELO ",
  "EHLO ",
  "NOOP",
  "DATA",
  "RSET",
  "QUIT",
  "<",
  ">",
  "<>",
  "a@b.example",
  "@",
  '"q"',
  " ",
  "SIZE=10",
  "BODY=8BITMIME",
  "=",
  "ü",
  "[1.2.3.4]",
  "\t",
  "x"
)

describe("Command.decodeLine fast path", () => {
  it("agrees with the schema codec on encoded commands", () => {
    FastCheck.assert(
      FastCheck.property(Arbitraries.command, (command) => agree(Command.encodeLine(command))),
      { numRuns: 300 }
    )
  })

  it("agrees with the schema codec on arbitrary lines built from SMTP fragments", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(lineParts, { maxLength: 8 }), (parts) => agree(parts.join(""))),
      { numRuns: 2000 }
    )
  })

  it("agrees on a table of edge cases", () => {
    for (const line of [
      "MAIL FROM:<>",
      "MAIL FROM:<a@b.c> SIZE=",
      "MAIL FROM:<a@b.c> SIZE=1 SIZE=2",
      "RCPT TO:<postMaster>",
      "RCPT TO:<a@[IPv6:::1]>",
      "HELO  x ",
      "NOOP \u0001",
      "EHLO \u00e9"
    ]) {
      agree(line)
    }
  })
})
