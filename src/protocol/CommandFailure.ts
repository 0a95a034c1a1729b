/**
 * Why a command line did not decode, and the reply that calls for: a parse failure carries its
 * kind as an annotation of the Schema issue; a path the schema refused is the sender's or the
 * recipient's.
 *
 * @since 0.2.0
 */
import * as Result from "effect/Result"
import * as SchemaIssue from "effect/SchemaIssue"
import * as Reply from "./Reply.js"

// the annotation on a parse failure that says which reply it calls for
const FailureReply = "effect-smtpd/Command/FailureReply"

/**
 * @since 0.2.0
 * @category models
 */
export type FailureKind = "unknown" | "notImplemented" | "syntax" | "sender" | "recipient" | "mechanism"

/**
 * A parse failure of `line` of this kind.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fail = (kind: FailureKind, line: string, message: string) =>
  Result.fail(new SchemaIssue.InvalidValue({ message, [FailureReply]: kind }, line))

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

/**
 * The reply a failed decode calls for.
 *
 * @since 0.2.0
 * @category getters
 */
export const replyFor = (issue: SchemaIssue.Issue): Reply.Reply => {
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
