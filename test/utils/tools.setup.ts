// vitest's globalSetup (vitest.config.ts): detects the outside tools once per run, prints one
// line per missing one, and hands the findings to the test workers (see tools.ts).
import { allTools, detect, detectedVariable, notice } from "./tools.js"

export default function setup() {
  const found = detect()
  process.env[detectedVariable] = JSON.stringify(found)
  for (const tool of allTools) if (!found[tool]) console.log(notice(tool))
}
