// The queue's delivery status notifications as a mail client reads them: Python's `email` package
// (policy.default) parses the bytes, so the structure checked is RFC 6522 / RFC 3464 as another
// implementation sees it, not as ours wrote it.
import { Effect } from "effect"
import { runProcess } from "./process.js"
import { python3 } from "./tools.js"

export interface ReportPart {
  readonly type: string
  readonly defects: ReadonlyArray<string>
  /** message/delivery-status: the per-message group, then one per recipient. */
  readonly groups?: ReadonlyArray<Readonly<Record<string, string>>>
  /** message/rfc822: the enclosed message. */
  readonly inner?: { readonly headers: Readonly<Record<string, string>>; readonly body: string }
  /** Any other part, decoded. */
  readonly text?: string
}

export interface Report {
  readonly type: string
  readonly params: Readonly<Record<string, string>>
  readonly headers: Readonly<Record<string, string>>
  readonly defects: ReadonlyArray<string>
  readonly parts: ReadonlyArray<ReportPart>
}

const script = `
import sys, json, email
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
def defects(msg): return [type(d).__name__ for d in msg.defects]
out = {"type": m.get_content_type(), "params": dict(m["content-type"].params) if m["content-type"] else {},
       "headers": {k: str(v) for k, v in m.items()}, "defects": defects(m), "parts": []}
for p in (m.iter_parts() if m.is_multipart() else []):
    info = {"type": p.get_content_type(), "defects": defects(p)}
    if p.get_content_type() == "message/delivery-status":
        info["groups"] = [{k: str(v) for k, v in g.items()} for g in p.get_payload()]
    elif p.get_content_type() == "message/rfc822":
        inner = p.get_payload(0)
        info["inner"] = {"headers": {k: str(v) for k, v in inner.items()},
                         "body": inner.get_payload(decode=True).decode("utf-8", "replace")}
    else:
        info["text"] = p.get_payload(decode=True).decode(p.get_content_charset() or "ascii", "replace")
    out["parts"].append(info)
print(json.dumps(out))
`

/** The report as Python's email package parses it. */
export const parseReport = (bytes: Uint8Array): Effect.Effect<Report> =>
  Effect.gen(function* () {
    const result = yield* runProcess(python3, ["-c", script], { input: bytes })
    if (result.exitCode !== 0) return yield* Effect.die(new Error(`python3 failed: ${result.stderr}`))
    return JSON.parse(result.stdout) as Report
  }).pipe(Effect.orDie)

/** The per-recipient groups of a report's message/delivery-status part. */
export const recipientGroups = (report: Report): ReadonlyArray<Readonly<Record<string, string>>> =>
  report.parts.find((part) => part.type === "message/delivery-status")?.groups?.slice(1) ?? []

/**
 * The checks every report must pass (RFC 6522 §3, RFC 3464 §2): a multipart/report of type
 * delivery-status without defects, its three parts in order (text, status, the original or its
 * headers), a per-message group with Reporting-MTA, and no 8-bit header fields.
 */
export const isWellFormed = (report: Report): boolean =>
  report.type === "multipart/report" &&
  report.params["report-type"] === "delivery-status" &&
  report.defects.length === 0 &&
  report.parts.every((part) => part.defects.length === 0) &&
  report.parts.length === 3 &&
  report.parts[0]?.type === "text/plain" &&
  report.parts[1]?.type === "message/delivery-status" &&
  ["message/rfc822", "text/rfc822-headers"].includes(report.parts[2]?.type ?? "") &&
  (report.parts[1]?.groups?.[0]?.["Reporting-MTA"] ?? "").startsWith("dns;") &&
  report.headers["Auto-Submitted"] === "auto-replied"
