/**
 * SMTP commands as a Schema tagged union, and the line ⇄ command codec.
 *
 * `CommandFromLine` decodes a command line (without its CRLF) into a `Command` and encodes a
 * `Command` back into a line; the server decodes, a client encodes. A line that does not
 * decode gets the reply its failure calls for (`decodeLine`): unknown verb 500 5.5.2, known
 * but unimplemented verb 502 5.5.1, bad syntax 501 5.5.4, bad sender 501 5.1.7, bad recipient
 * 501 5.1.3.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Address from "./Address.js"
import * as Ascii from "./Ascii.js"
import { parseBdat, parsePathCommand } from "./CommandArguments.js"
import { fail, replyFor } from "./CommandFailure.js"
import * as Parameters from "./Parameters.js"
import * as Reply from "./Reply.js"

/** Free text after a verb: printable, no CR/LF, no leading or trailing space. */
// non-ASCII as UTF-16 code units: no `u` flag, which Arbitrary's regex generator drops
const Text = Schema.String.check(
  Schema.isPattern(/^(?:[\x21-\x7e\u0080-\uffff](?:[\x20-\x7e\u0080-\uffff]*[\x21-\x7e\u0080-\uffff])?)?$/)
)
const Argument = Text.check(Schema.isMinLength(1))

/** @since 0.1.0 @category models */
export const Helo = Schema.TaggedStruct("Helo", { domain: Argument })
/** @since 0.1.0 @category models */
export type Helo = typeof Helo.Type
/** @since 0.1.0 @category models */
export const Ehlo = Schema.TaggedStruct("Ehlo", { domain: Argument })
/** @since 0.1.0 @category models */
export type Ehlo = typeof Ehlo.Type
/** @since 0.1.0 @category models */
export const Mail = Schema.TaggedStruct("Mail", {
  from: Address.ReversePath,
  parameters: Parameters.Parameters
})
/** @since 0.1.0 @category models */
export type Mail = typeof Mail.Type
/** @since 0.1.0 @category models */
export const Rcpt = Schema.TaggedStruct("Rcpt", {
  to: Address.ForwardPath,
  parameters: Parameters.Parameters
})
/** @since 0.1.0 @category models */
export type Rcpt = typeof Rcpt.Type
/** @since 0.1.0 @category models */
export const Data = Schema.TaggedStruct("Data", {})
/** @since 0.1.0 @category models */
export type Data = typeof Data.Type
/** @since 0.1.0 @category models */
export const Rset = Schema.TaggedStruct("Rset", {})
/** @since 0.1.0 @category models */
export type Rset = typeof Rset.Type
/** @since 0.1.0 @category models */
export const Noop = Schema.TaggedStruct("Noop", { text: Text })
/** @since 0.1.0 @category models */
export type Noop = typeof Noop.Type
/** @since 0.1.0 @category models */
export const Quit = Schema.TaggedStruct("Quit", {})
/** @since 0.1.0 @category models */
export type Quit = typeof Quit.Type
/** @since 0.1.0 @category models */
export const Vrfy = Schema.TaggedStruct("Vrfy", { argument: Argument })
/** @since 0.1.0 @category models */
export type Vrfy = typeof Vrfy.Type
/** @since 0.1.0 @category models */
export const Expn = Schema.TaggedStruct("Expn", { argument: Argument })
/** @since 0.1.0 @category models */
export type Expn = typeof Expn.Type
/** @since 0.1.0 @category models */
export const Help = Schema.TaggedStruct("Help", { topic: Text })
/** @since 0.1.0 @category models */
export type Help = typeof Help.Type

/** LMTP's greeting (RFC 2033 §4.1). @since 0.2.0 @category models */
export const Lhlo = Schema.TaggedStruct("Lhlo", { domain: Argument })
/** @since 0.2.0 @category models */
export type Lhlo = typeof Lhlo.Type
/** A chunk of `size` octets follows the line (RFC 3030); `last` ends the message. @since 0.2.0 @category models */
export const Bdat = Schema.TaggedStruct("Bdat", {
  size: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  last: Schema.Boolean
})
/** @since 0.2.0 @category models */
export type Bdat = typeof Bdat.Type

/** @since 0.1.0 @category models */
export const StartTls = Schema.TaggedStruct("StartTls", {})
/** @since 0.1.0 @category models */
export type StartTls = typeof StartTls.Type
// RFC 4954 §4: a SASL mechanism name, and an initial response in base64 or "=" for an empty one
const MechanismName = Schema.String.check(Schema.isPattern(/^[A-Z0-9_-]{1,20}$/))
const InitialResponse = Schema.String.check(Schema.isPattern(/^(?:=|[A-Za-z0-9+/]+={0,2})$/))
/** @since 0.1.0 @category models */
export const Auth = Schema.TaggedStruct("Auth", {
  mechanism: MechanismName,
  initialResponse: Schema.optionalKey(InitialResponse)
})
/** @since 0.1.0 @category models */
export type Auth = typeof Auth.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const Command = Schema.Union([
  Helo,
  Ehlo,
  Lhlo,
  Mail,
  Rcpt,
  Data,
  Bdat,
  Rset,
  Noop,
  Quit,
  Vrfy,
  Expn,
  Help,
  StartTls,
  Auth
])

/**
 * @since 0.1.0
 * @category models
 */
export type Command = typeof Command.Type

/**
 * The verbs this codec knows.
 *
 * @since 0.1.0
 * @category constants
 */
export const verbs: ReadonlyArray<string> = [
  "HELO",
  "EHLO",
  "MAIL",
  "RCPT",
  "DATA",
  "RSET",
  "NOOP",
  "QUIT",
  "VRFY",
  "EXPN",
  "HELP"
]

// RFC 5321 §4.1.1 lists these; we do not offer them
const unimplemented = new Set(["SEND", "SOML", "SAML", "TURN", "ETRN", "ATRN"])

/**
 * Splits `verb SP arguments`. The verb is case-insensitive (RFC 5321 §2.4), in ASCII only: "quıt"
 * (dotless ı) is no QUIT.
 *
 * @since 0.1.0
 * @category parsing
 */
export const splitVerb = (line: string): { readonly verb: string; readonly rest: string } => {
  const space = line.indexOf(" ")
  return space === -1
    ? { verb: Ascii.upper(line), rest: "" }
    : { verb: Ascii.upper(line.slice(0, space)), rest: line.slice(space + 1) }
}

/**
 * The verb of a command line, as `splitVerb` reads it: the server's reader, its pipelining
 * check and the client's wording of a refusal all read verbs with this one function.
 *
 * @since 0.1.0
 * @category parsing
 */
export const verbOf = (line: string): string => splitVerb(line).verb

const greetingTags = { HELO: "Helo", EHLO: "Ehlo", LHLO: "Lhlo" } as const

const parseLine = (line: string): Result.Result<typeof Command.Encoded, SchemaIssue.Issue> => {
  const { rest, verb } = splitVerb(line)
  // SP and HTAB only: String#trim would also eat Unicode spaces that belong to the text
  const args = rest.replace(/^[ \t]+|[ \t]+$/g, "")
  const noArguments = <T extends "Data" | "Rset" | "Quit" | "StartTls">(_tag: T) =>
    args === "" ? Result.succeed({ _tag }) : fail("syntax", line, `Syntax: ${verb}`)
  const needsArgument = (usage: string) => (args === "" ? fail("syntax", line, `Syntax: ${verb} ${usage}`) : undefined)
  switch (verb) {
    case "HELO":
    case "EHLO":
    case "LHLO":
      return needsArgument("hostname") ?? Result.succeed({ _tag: greetingTags[verb], domain: args })
    case "BDAT":
      return parseBdat(line, args)
    case "MAIL":
      return parsePathCommand("Mail", line, rest)
    case "RCPT":
      return parsePathCommand("Rcpt", line, rest)
    case "DATA":
      return noArguments("Data")
    case "RSET":
      return noArguments("Rset")
    case "QUIT":
      return noArguments("Quit")
    case "NOOP":
      return Result.succeed({ _tag: "Noop", text: args })
    case "VRFY":
      return needsArgument("address") ?? Result.succeed({ _tag: "Vrfy", argument: args })
    case "EXPN":
      return needsArgument("list") ?? Result.succeed({ _tag: "Expn", argument: args })
    case "HELP":
      return Result.succeed({ _tag: "Help", topic: args })
    case "STARTTLS":
      return noArguments("StartTls")
    case "AUTH": {
      const [mechanism = "", initialResponse, ...extra] = args.split(/[ \t]+/)
      if (mechanism === "" || extra.length > 0) return fail("syntax", line, "Syntax: AUTH mechanism [initial-response]")
      return Result.succeed(
        initialResponse === undefined
          ? { _tag: "Auth" as const, mechanism: Ascii.upper(mechanism) }
          : { _tag: "Auth" as const, mechanism: Ascii.upper(mechanism), initialResponse }
      )
    }
    default:
      return unimplemented.has(verb)
        ? fail("notImplemented", line, "Command not implemented")
        : fail("unknown", line, "Command unrecognized")
  }
}

const path = (mailbox: string) => `<${mailbox}>`
const withParameters = (parameters: Parameters.Parameters) => parameters.map((p) => ` ${Parameters.format(p)}`).join("")
const withText = (verb: string, text: string) => (text === "" ? verb : `${verb} ${text}`)

/**
 * Formats a command as a line (no CRLF), as a client sends it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const formatLine = (command: typeof Command.Encoded): string => {
  switch (command._tag) {
    case "Helo":
      return `HELO ${command.domain}`
    case "Ehlo":
      return `EHLO ${command.domain}`
    case "Lhlo":
      return `LHLO ${command.domain}`
    case "Bdat":
      return command.last ? `BDAT ${command.size} LAST` : `BDAT ${command.size}`
    case "Mail":
      return `MAIL FROM:${path(command.from)}${withParameters(command.parameters)}`
    case "Rcpt":
      return `RCPT TO:${path(command.to)}${withParameters(command.parameters)}`
    case "Data":
      return "DATA"
    case "Rset":
      return "RSET"
    case "Quit":
      return "QUIT"
    case "Noop":
      return withText("NOOP", command.text)
    case "Vrfy":
      return `VRFY ${command.argument}`
    case "Expn":
      return `EXPN ${command.argument}`
    case "Help":
      return withText("HELP", command.topic)
    case "StartTls":
      return "STARTTLS"
    case "Auth":
      return command.initialResponse === undefined
        ? `AUTH ${command.mechanism}`
        : `AUTH ${command.mechanism} ${command.initialResponse}`
  }
}

/**
 * A command line (without CRLF) ⇄ `Command`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommandFromLine: Schema.Codec<Command, string> = Schema.String.pipe(
  Schema.decodeTo(
    Command,
    SchemaTransformation.transformEffect({
      decode: (line: string) => Effect.fromResult(parseLine(line)),
      encode: (command: typeof Command.Encoded) => Effect.succeed(formatLine(command))
    })
  )
)

const decodeResult = Schema.decodeResult(CommandFromLine)
const isText = Schema.is(Text)
const isArgument = Schema.is(Argument)
// the schema's checks by hand: Schema.is on the array cost MAIL with parameters 4–6× its decode
const isParameters = (parameters: Parameters.Parameters): boolean => {
  for (const { keyword, value } of parameters) {
    if (!Parameters.keywordPattern.test(keyword) || (value !== undefined && !Parameters.valuePattern.test(value)))
      return false
  }
  return true
}

// The hot path: the same checks as the schemas, without the interpreter (a Schema decode per
// command was a fifth of the server's CPU under load). Only success is decided here; anything
// doubtful goes through the schema, which also words the failure. A property test keeps the
// two in agreement.
const fastDecode = (encoded: typeof Command.Encoded): Command | undefined => {
  switch (encoded._tag) {
    case "Mail":
      return (encoded.from === "" || Address.isMailbox(encoded.from)) && isParameters(encoded.parameters)
        ? encoded
        : undefined
    case "Rcpt":
      return (encoded.to.toLowerCase() === "postmaster" || Address.isMailbox(encoded.to)) &&
        isParameters(encoded.parameters)
        ? encoded
        : undefined
    case "Data":
      return encoded
    case "Rset":
      return encoded
    case "Quit":
      return encoded
    case "Helo":
      return isArgument(encoded.domain) ? encoded : undefined
    case "Ehlo":
      return isArgument(encoded.domain) ? encoded : undefined
    case "Bdat":
      return encoded
    case "Noop":
      return isText(encoded.text) ? encoded : undefined
    default:
      return undefined
  }
}

/**
 * Decodes a command line, or gives the reply that its failure calls for.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeLine = (line: string): Result.Result<Command, Reply.Reply> => {
  const parsed = parseLine(line)
  if (Result.isSuccess(parsed)) {
    const command = fastDecode(parsed.success)
    if (command !== undefined) return Result.succeed(command)
  }
  return Result.mapError(decodeResult(line), (error) => replyFor(error.issue))
}

/**
 * Encodes a command as a line (no CRLF).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeLine: (command: Command) => string = Schema.encodeSync(CommandFromLine)
