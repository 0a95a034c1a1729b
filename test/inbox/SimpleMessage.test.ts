// SimpleMessage parses the simplest messages without mailparser: on every message it takes, it
// must give exactly what mailparser gives (NodeMimeParser.parseWithMailparser). The generated
// messages mix what it takes with what it must leave to the library.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as FastCheck from "fast-check"
import MailComposer from "nodemailer/lib/mail-composer"
import * as SimpleMessage from "../../src/inbox/SimpleMessage.js"
import * as NodeMimeParser from "../../src/node/NodeMimeParser.js"

const bytes = (text: string) => new TextEncoder().encode(text)

const mailboxes = FastCheck.constantFrom(
  "a@b.example",
  "<a@b.example>",
  "Ann Lee <ann@x.example>",
  "Ann Lee<ann@x.example>",
  "Ann  Lee <ann@x.example>",
  '"Lee, Ann" <ann@x.example>',
  '"" <e@f.example>',
  '" spaced " <s@p.example>',
  '"x@y.example" <a@b.example>',
  '"A (b) <c>; d: e." <q@r.example>',
  "first.last+tag@sub.domain.example",
  "a@b.example>",
  "<a@b.example",
  '"unclosed <a@b.example>',
  "user@xn--bcher-kva.example",
  "(comment) a@b.example",
  "a @ b.example",
  "Name (c) <a@b.example>",
  "=?utf-8?q?x?= <a@b.example>",
  "group: a@b.example;",
  "<>",
  "plain words",
  "a@b.example (comment)",
  "O'Brien <ob@x.example>",
  "x_y@b.example",
  "J. R. Smith <j@x.example>",
  "Smith, J. <j@x.example>",
  "a=b?c <q@x.example>",
  "#tag {x} <t@x.example>",
  ".dot <d@x.example>",
  "<a@b.example> trailing",
  "-a@b.example",
  ".a@b.example",
  "a..b@c.example",
  "a@b..example",
  "a@-b.example"
)
const addressList = FastCheck.array(mailboxes, { maxLength: 3 }).chain((list) =>
  FastCheck.constantFrom(",", ", ", " , ", ",,").map((sep) => list.join(sep))
)
const words = FastCheck.array(
  FastCheck.constantFrom("hello", "world", " ", "  ", "\t", "(c)", "<x>", ";", ":", '"', "=?utf-8?B?w6k=?=", "é", "="),
  { maxLength: 5 }
).map((parts) => parts.join(""))
const valueOf: Record<string, FastCheck.Arbitrary<string>> = {
  address: addressList,
  text: words,
  id: FastCheck.constantFrom("<abc@x.example>", "abc@x.example", "<", ">", "", " <a> ", "<<a>>", "a>"),
  date: FastCheck.constantFrom(
    "Mon, 7 Dec 2026 14:51:01 +0000",
    "7 Dec 2026 14:51 -0500 (EST)",
    "Mon,  7 Dec 2026 14:51:01 +0000 (UTC)",
    "not a date",
    "",
    "2026-12-07T10:00:00Z"
  ),
  type: FastCheck.constantFrom(
    "text/plain",
    "TEXT/Plain; charset=utf-8",
    'text/plain; charset="US-ASCII"',
    "text/plain;charset=utf-8",
    "text/plain; charset=iso-8859-1",
    "text/plain; charset=utf8",
    "text/html",
    "text/plain; format=flowed",
    "multipart/mixed; boundary=x",
    "application/octet-stream"
  ),
  encoding: FastCheck.constantFrom("7bit", "8BIT", "binary", "quoted-printable", "base64", "")
}
const names: ReadonlyArray<readonly [string, keyof typeof valueOf]> = [
  ["Subject", "text"],
  ["subject", "text"],
  ["From", "address"],
  ["To", "address"],
  ["TO", "address"],
  ["Cc", "address"],
  ["Bcc", "address"],
  ["Reply-To", "address"],
  ["Message-Id", "id"],
  ["Message-ID", "id"],
  ["Date", "date"],
  ["X-Tags", "text"],
  ["Return-Path", "id"],
  ["Content-Type", "type"],
  ["Content-Transfer-Encoding", "encoding"],
  ["Content-Disposition", "text"],
  ["MIME-Version", "text"],
  ["X-Mailer", "text"],
  ["Received", "text"]
]

// a value folded at a random place now and then, as a long field is
const folded = (value: string) =>
  FastCheck.tuple(FastCheck.nat(value.length), FastCheck.constantFrom("", "", "\r\n ", "\r\n\t", "\r\n  ")).map(
    ([at, fold]) => value.slice(0, at) + fold + value.slice(at)
  )
const field = FastCheck.constantFrom(...names).chain(([name, kind]) =>
  valueOf[kind]!.chain(folded).chain((value) =>
    FastCheck.constantFrom(" ", "", "  ").map((space) => `${name}:${space}${value}\r\n`)
  )
)
const header = FastCheck.array(field, { minLength: 1, maxLength: 8 }).chain((fields) =>
  FastCheck.constantFrom("", "", "", "", "\n", " continued\r\n", "no colon\r\n", "\r\n").map((odd) =>
    odd === "\n" ? fields.join("").replace("\r\n", "\n") : fields.join("") + odd
  )
)
const bodyLine = FastCheck.constantFrom("hello", "", ".", "..", "é", "\r", "\n", "\ufeffbom", "  indented", "a\tb")
const body = FastCheck.oneof(
  FastCheck.array(bodyLine, { maxLength: 6 }).map((lines) => bytes(lines.map((l) => `${l}\r\n`).join(""))),
  FastCheck.uint8Array({ maxLength: 40 })
)
const message = FastCheck.tuple(header, body).map(([head, rest]) => {
  const section = bytes(`${head}\r\n`)
  const all = new Uint8Array(section.length + rest.length)
  all.set(section)
  all.set(rest, section.length)
  return all
})

const library = (raw: Uint8Array) => Effect.runPromise(NodeMimeParser.parseWithMailparser(raw))

describe("SimpleMessage", () => {
  it("gives what mailparser gives on every message it takes", async () => {
    let taken = 0
    await FastCheck.assert(
      FastCheck.asyncProperty(message, async (raw) => {
        const simple = SimpleMessage.parse(raw)
        if (simple === undefined) return
        taken++
        expect(simple).toStrictEqual(await library(raw))
      }),
      { numRuns: 3000 }
    )
    // the generator must reach the simple path often enough to test it
    expect(taken).toBeGreaterThan(300)
  }, 60_000)

  it("takes smtp-source's, swaks' and smtplib's plain messages", async () => {
    const plain = [
      "From: <foo@vm>\r\nTo: <foo@vm>\r\nDate: Mon,  7 Dec 2026 14:51:01 +0000 (UTC)\r\nMessage-Id: <1d1a.0003@vm>\r\n\r\nLa de da\r\n",
      "Date: Mon, 07 Dec 2026 15:00:00 +0000\r\nTo: bob@example.com\r\nFrom: alice@example.com\r\nSubject: test Mon, 07 Dec 2026 15:00:00 +0000\r\nMessage-Id: <20261207150000.001@host>\r\nX-Mailer: swaks v20240103.0 jetmore.org/john/code/swaks/\r\n\r\nThis is a test mailing\r\n\r\n",
      'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\nMIME-Version: 1.0\r\nSubject: Hi\r\nFrom: Alice Example <alice@example.com>\r\nTo: bob@example.com, "Carol, C." <carol@example.com>\r\nX-Tags: one, two\r\n\r\nHello Bob.\r\n'
    ]
    for (const text of plain) {
      const raw = bytes(text)
      const simple = SimpleMessage.parse(raw)
      expect(simple).toBeDefined()
      expect(simple).toStrictEqual(await library(raw))
    }
  })

  it("takes nodemailer's plain text messages, and agrees with mailparser on what nodemailer builds", async () => {
    const built = (mail: ConstructorParameters<typeof MailComposer>[0]) =>
      new Promise<Uint8Array>((resolve, reject) =>
        new MailComposer(mail).compile().build((error, message) => (error ? reject(error) : resolve(message)))
      )
    const base = { from: '"Alice Example" <alice@example.com>', to: "bob@example.com, Carol <carol@example.com>" }
    const plain = await built({ ...base, cc: "dave@example.com", subject: "Order 42", text: "Hello Bob,\nshipped.\n" })
    const simple = SimpleMessage.parse(plain)
    expect(simple?.from).toEqual({ Name: "Alice Example", Address: "alice@example.com" })
    expect(simple).toStrictEqual(await library(plain))
    for (const other of [
      { ...base, subject: "Grüße", text: "Hallo" },
      { ...base, subject: "x", text: "Grüße aus Köln" },
      { ...base, subject: "x", text: "a ".repeat(100) },
      { ...base, subject: "x", text: "t", html: "<p>t</p>" },
      { ...base, subject: "x", text: "t", attachments: [{ filename: "a.txt", content: "a" }] },
      { ...base, replyTo: "r@example.com", bcc: "b@example.com", subject: "x", text: "t" }
    ]) {
      const raw = await built(other)
      const taken = SimpleMessage.parse(raw)
      if (taken !== undefined) expect(taken).toStrictEqual(await library(raw))
    }
  })

  it("leaves MIME structure, encodings, charsets and odd addresses to the library", () => {
    for (const text of [
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
      "Content-Type: text/html\r\n\r\n<p>x</p>\r\n",
      "Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n",
      "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n\xe9\r\n",
      "Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n",
      "Subject: café\r\n\r\nx\r\n",
      "To: undisclosed-recipients:;\r\n\r\nx\r\n",
      "From: a@xn--bcher-kva.example\r\n\r\nx\r\n",
      "Subject: x\nTo: a@b\n\nbare line feeds\n",
      "Date: yesterday\r\n\r\nx\r\n",
      "Subject: no body"
    ])
      expect(SimpleMessage.parse(bytes(text)), text).toBeUndefined()
  })
})
