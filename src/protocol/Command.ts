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
import * as Parameters from "./Parameters.js"
import * as Reply from "./Reply.js"

// the annotation on a parse failure that says which reply it calls for
const FailureReply = "effect-smtpd/Command/FailureReply"
type FailureKind = "unknown" | "notImplemented" | "syntax" | "sender" | "recipient" | "mechanism"

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
export const Command = Schema.Union([Helo, Ehlo, Mail, Rcpt, Data, Rset, Noop, Quit, Vrfy, Expn, Help, StartTls, Auth])

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

const fail = (kind: FailureKind, line: string, message: string) =>
  Result.fail(new SchemaIssue.InvalidValue({ message, [FailureReply]: kind }, line))

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

// `FROM:<path> params` → path and params; honours quoted local parts containing `>`
const splitPath = (rest: string, prefix: string) => {
  if (Ascii.upper(rest.slice(0, prefix.length)) !== prefix) return undefined
  const text = rest.slice(prefix.length).replace(/^ /, "") // tolerate one space after the colon
  if (!text.startsWith("<")) return undefined
  let quoted = false
  for (let i = 1; i < text.length; i++) {
    const c = text[i]
    if (quoted && c === "\\") i++
    else if (c === '"') quoted = !quoted
    else if (c === ">" && !quoted) {
      const after = text.slice(i + 1)
      if (after !== "" && !after.startsWith(" ")) return undefined
      return { path: text.slice(0, i + 1), params: after }
    }
  }
  return undefined
}

const parsePathCommand = (tag: "Mail" | "Rcpt", line: string, rest: string) => {
  const usage = tag === "Mail" ? "Syntax: MAIL FROM:<address> [parameters]" : "Syntax: RCPT TO:<address> [parameters]"
  const parts = splitPath(rest, tag === "Mail" ? "FROM:" : "TO:")
  if (parts === undefined) return fail("syntax", line, usage)
  const parameters = Parameters.parse(parts.params)
  if (parameters === undefined) return fail("syntax", line, "Malformed parameter")
  const mailbox = Address.unbracket(parts.path)
  if (Result.isFailure(mailbox)) return fail(tag === "Mail" ? "sender" : "recipient", line, mailbox.failure)
  return Result.succeed(
    tag === "Mail"
      ? { _tag: "Mail" as const, from: mailbox.success, parameters }
      : { _tag: "Rcpt" as const, to: mailbox.success, parameters }
  )
}

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
      return (
        needsArgument("hostname") ??
        Result.succeed({ _tag: verb === "HELO" ? ("Helo" as const) : ("Ehlo" as const), domain: args })
      )
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

// which reply a failed decode calls for: a parse failure says so; a path the schema refused is
// the sender's or the recipient's
const kindOf = (issue: SchemaIssue.Issue): FailureKind | undefined => {
  switch (issue._tag) {
    case "InvalidValue":
      return issue.annotations?.[FailureReply] as FailureKind | undefined
    case "Pointer": {
      const key = issue.path[0]
      if (key === "from") return "sender"
      if (key === "to") return "recipient"
      // no mechanism name, so none the server offers (RFC 4954 §4)
      if (key === "mechanism") return "mechanism"
      return kindOf(issue.issue)
    }
    case "Filter":
    case "Encoding":
      return kindOf(issue.issue)
    case "Composite":
    case "AnyOf":
      for (const inner of issue.issues) {
        const kind = kindOf(inner)
        if (kind !== undefined) return kind
      }
      return undefined
    default:
      return undefined
  }
}

const messageOf = (issue: SchemaIssue.Issue): string | undefined => {
  switch (issue._tag) {
    case "InvalidValue":
      return issue.annotations?.message
    case "Pointer":
    case "Filter":
    case "Encoding":
      return messageOf(issue.issue)
    case "Composite":
    case "AnyOf":
      return issue.issues[0] === undefined ? undefined : messageOf(issue.issues[0])
    default:
      return undefined
  }
}

const replyFor = (issue: SchemaIssue.Issue): Reply.Reply => {
  const kind = kindOf(issue) ?? "syntax"
  const message = messageOf(issue) ?? "Syntax error"
  switch (kind) {
    case "unknown":
      return Reply.unknownCommand
    case "notImplemented":
      return Reply.notImplemented
    case "syntax":
      return Reply.syntaxError(message.startsWith("Expected") ? "Syntax error" : message)
    case "sender":
      return Reply.badSender(message)
    case "recipient":
      return Reply.badRecipient(message)
    case "mechanism":
      return Reply.unknownMechanism
  }
}

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
