// --help worth reading (issue 17, point 5): plain text when not on a terminal (and with
// NO_COLOR on one), every flag described, repeatable ones said to be, no interactive --wizard;
// --completions kept.
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { builtCommand } from "../utils/command.js"

const main = builtCommand()
const help = (env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [main, "--help"], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 30_000 })

// on a pseudo-terminal (script(1)), where the help would be coloured
const onTerminal = (env: Record<string, string>) =>
  spawnSync("script", ["-qc", `${JSON.stringify(process.execPath)} ${JSON.stringify(main)} --help`, "/dev/null"], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 30_000
  })

describe("effect-smtpd --help", () => {
  it("is plain text when piped, every flag with a description, repeatable ones marked, no --wizard", () => {
    const result = help()
    expect(result.status).toBe(0)
    expect(result.stdout).not.toMatch(/\u001b\[/)
    expect(result.stdout).toContain("USAGE")
    // each flag line has words after the flag itself
    const flagLines = result.stdout.split("\n").filter((line) => /^\s+--[a-z]/.test(line))
    expect(flagLines.length).toBeGreaterThan(40)
    for (const line of flagLines) expect(line, line).toMatch(/^\s+--\S+.*\s{2,}\S+/)
    for (const repeatable of ["--listen", "--tls-listen", "--proxy-protocol-from"]) {
      expect(flagLines.find((line) => line.trimStart().startsWith(repeatable))).toContain("repeatable")
    }
    expect(result.stdout).toContain("--completions")
    expect(result.stdout).not.toContain("--wizard")
    expect(result.stdout).not.toContain("A user-defined piece of text")
    expect(result.stdout).not.toContain("This setting is optional")
  })

  it.skipIf(spawnSync("script", ["--version"]).status !== 0)(
    "is coloured on a terminal, and plain there too with NO_COLOR",
    () => {
      expect(onTerminal({}).stdout).toMatch(/\u001b\[/)
      const plain = onTerminal({ NO_COLOR: "1" })
      expect(plain.stdout).toContain("USAGE")
      expect(plain.stdout).not.toMatch(/\u001b\[/)
    }
  )
})
