/**
 * Mailpit's SpamAssassin check: a captured message scored by a SpamAssassin daemon (`spamd`,
 * `--enable-spamassassin HOST:PORT`) on demand, its verdict, score and the rules it hit. The
 * service holds what the API needs; `NodeSpamAssassin` talks to spamd. Pure here: reading
 * spamd's REPORT answer.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * A rule the message hit, as spamd's report lists it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Rule {
  readonly Name: string
  readonly Score: number
  readonly Description: string
}

/**
 * Mailpit's answer: `Error` set (and `Rules` null) when there is no verdict.
 *
 * @since 0.2.0
 * @category models
 */
export interface Report {
  readonly Error: string
  readonly IsSpam: boolean
  readonly Score: number
  readonly Rules: ReadonlyArray<Rule> | null
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** Where spamd is (`host:port`); undefined when the check is off. */
  readonly server: string | undefined
  readonly check: (raw: Uint8Array) => Effect.Effect<Report>
}

/**
 * @since 0.2.0
 * @category services
 */
export class SpamCheck extends Context.Service<SpamCheck, Service>()("effect-smtpd/SpamCheck") {}

/**
 * No verdict, for this reason.
 *
 * @since 0.2.0
 * @category constructors
 */
export const failed = (error: string): Report => ({ Error: error, IsSpam: false, Score: 0, Rules: null })

/**
 * The check off.
 *
 * @since 0.2.0
 * @category layers
 */
export const off: Layer.Layer<SpamCheck> = Layer.succeed(SpamCheck, {
  server: undefined,
  check: () => Effect.succeed(failed("SpamAssassin is not enabled (--enable-spamassassin)"))
})

const verdict = /^Spam:\s*(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*\/\s*(-?[\d.]+)\s*$/im
const ruleLine = /^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$/
const continuation = /^\s{20,}(\S.*)$/

// the report's table: after the "---- ----" line, a rule per line, long descriptions continued
// on lines of their own
const rulesOf = (body: string): Array<Rule> => {
  const lines = body.split(/\r?\n/)
  const start = lines.findIndex((line) => /^-{3,}\s+-{3,}/.test(line))
  const rules: Array<Rule> = []
  if (start === -1) return rules
  for (const line of lines.slice(start + 1)) {
    const rule = ruleLine.exec(line)
    if (rule !== null) {
      rules.push({ Name: rule[2]!, Score: Number(rule[1]), Description: rule[3]!.trim() })
      continue
    }
    const more = continuation.exec(line)
    const last = rules.at(-1)
    if (more !== null && last !== undefined) {
      rules[rules.length - 1] = { ...last, Description: `${last.Description} ${more[1]!.trim()}` }
    } else if (line.trim() === "") break
  }
  return rules
}

/**
 * spamd's answer to REPORT (its status line, headers, blank line and report), or why it is
 * none.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseReport = (answer: string): Report => {
  const status = /^SPAMD\/[\d.]+\s+(\d+)\s*(.*)$/m.exec(answer.split(/\r?\n/, 1)[0] ?? "")
  if (status === null) return failed("spamd's answer could not be read")
  if (status[1] !== "0") return failed(`spamd refused the message: ${status[2]!.trim() || status[1]}`)
  const end = answer.search(/\r?\n\r?\n/)
  const headers = end === -1 ? answer : answer.slice(0, end)
  const found = verdict.exec(headers)
  if (found === null) return failed("spamd's answer has no verdict")
  const isSpam = found[1]!.toLowerCase() === "true" || found[1]!.toLowerCase() === "yes"
  return { Error: "", IsSpam: isSpam, Score: Number(found[2]), Rules: rulesOf(end === -1 ? "" : answer.slice(end)) }
}
