// fast-check arbitraries for the protocol's values: what each command schema accepts, for
// property tests (Effect 4's Schema derives arbitraries of its own model, not fast-check's).
import * as fc from "fast-check"
import type * as Command from "../../src/protocol/Command.js"
import type * as Parameters from "../../src/protocol/Parameters.js"

// free text after a verb (Command's Text): printable, no leading or trailing space; non-ASCII
// as UTF-16 code units, as the schema's pattern reads them
const text = fc.stringMatching(/^(?:[\x21-\x7e\u0080-\uffff](?:[\x20-\x7e\u0080-\uffff]*[\x21-\x7e\u0080-\uffff])?)?$/)
const argument = text.filter((value) => value.length > 0)

/** Mailboxes: dot-strings, quoted strings, UTF-8, domains and address literals. */
export const mailbox: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]{1,10}(?:\.[A-Za-z0-9_-]{1,6}){0,2}$/),
      fc.stringMatching(/^"(?:[ !#-\[\]-~]|\\[ -~]){0,10}"$/),
      fc.constant("\u00fc\u00f1\u00ee")
    ),
    fc.oneof(
      fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?){0,3}$/),
      fc.ipV4().map((ip) => `[${ip}]`),
      fc.ipV6().map((ip) => `[IPv6:${ip}]`)
    )
  )
  .map(([local, domain]) => `${local}@${domain}`)

/** `Reverse-path` content: a mailbox or the null path. */
export const reversePath: fc.Arbitrary<string> = fc.oneof(fc.constant(""), mailbox)

/** `Forward-path` content: a mailbox or Postmaster. */
export const forwardPath: fc.Arbitrary<string> = fc.oneof(fc.constant("Postmaster"), mailbox)

/** ESMTP parameters, with and without values. */
export const parameters: fc.Arbitrary<Parameters.Parameters> = fc.array(
  fc.record(
    { keyword: fc.stringMatching(/^[A-Z0-9][A-Z0-9-]{0,10}$/), value: fc.stringMatching(/^[!-<>-~]{1,12}$/) },
    { requiredKeys: ["keyword"] }
  ),
  { maxLength: 4 }
)

/** Every command the codec knows, with the values its schemas accept. */
export const command: fc.Arbitrary<Command.Command> = fc.oneof(
  fc.record({ _tag: fc.constant("Helo" as const), domain: argument }),
  fc.record({ _tag: fc.constant("Ehlo" as const), domain: argument }),
  fc.record({ _tag: fc.constant("Mail" as const), from: reversePath, parameters }),
  fc.record({ _tag: fc.constant("Rcpt" as const), to: forwardPath, parameters }),
  fc.constant({ _tag: "Data" as const }),
  fc.constant({ _tag: "Rset" as const }),
  fc.record({ _tag: fc.constant("Noop" as const), text }),
  fc.constant({ _tag: "Quit" as const }),
  fc.record({ _tag: fc.constant("Vrfy" as const), argument }),
  fc.record({ _tag: fc.constant("Expn" as const), argument }),
  fc.record({ _tag: fc.constant("Help" as const), topic: text }),
  fc.constant({ _tag: "StartTls" as const }),
  fc.record(
    {
      _tag: fc.constant("Auth" as const),
      mechanism: fc.stringMatching(/^[A-Z0-9_-]{1,20}$/),
      initialResponse: fc.stringMatching(/^(?:=|[A-Za-z0-9+/]+={0,2})$/)
    },
    { requiredKeys: ["_tag", "mechanism"] }
  )
)
