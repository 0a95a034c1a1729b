// Mail for the browser tests, sent with python's smtplib.
import { spawnSync } from "node:child_process"
import { python3 } from "./tools.js"

// one message through python's smtplib: subject, from, html, an attachment
export const send = (smtp: number, message: { subject: string; from: string; html: string; attachment?: string }) => {
  const script = `
import smtplib, sys, json
from email.message import EmailMessage
m = json.loads(sys.argv[2])
e = EmailMessage()
e["From"] = m["from"]; e["To"] = "dev@example.com"; e["Subject"] = m["subject"]
e.set_content("The text part of " + m["subject"])
e.add_alternative(m["html"], subtype="html")
if m.get("attachment"):
    e.add_attachment(m["attachment"].encode(), maintype="text", subtype="csv", filename="report.csv")
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1])); s.send_message(e); s.quit()
`
  const result = spawnSync(python3, ["-c", script, String(smtp), JSON.stringify(message)], { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`smtplib: ${result.stderr}`)
}
