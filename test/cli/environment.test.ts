// Every flag from the environment (EFFECT_SMTPD_<FLAG>, read through Effect's Config), the flag
// winning when both are given; the repeatable ones split on commas or white space.
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"

const main = builtCommand()
const { start } = CliProcess.runner(main)
const listening = /listening on 127\.0\.0\.1:(\d+)/

describe("the command's flags from the environment", () => {
  it("class, listen, size, SMTPUTF8 and the relay networks from EFFECT_SMTPD_* variables", async () => {
    const server = await start([], listening, {
      EFFECT_SMTPD_CLASS: "Sink",
      EFFECT_SMTPD_LISTEN: "127.0.0.1:0",
      EFFECT_SMTPD_SIZE: "12345",
      EFFECT_SMTPD_SMTPUTF8: "true"
    })
    try {
      expect(server.stderr()).toContain("Sink listening on 127.0.0.1:")
      const [, ehlo] = await CliProcess.converse({ port: server.port }, ["EHLO client.test\r\n", "QUIT\r\n"])
      expect(ehlo).toContain("250-SIZE 12345\r\n")
      expect(ehlo).toContain("SMTPUTF8")
    } finally {
      await server.stop("SIGTERM")
    }
  })

  it("a flag given wins over its variable", async () => {
    const server = await start(["-c", "Sink", "--size", "999", "--listen", "127.0.0.1:0"], listening, {
      EFFECT_SMTPD_CLASS: "Maildir",
      EFFECT_SMTPD_SIZE: "12345",
      EFFECT_SMTPD_LISTEN: "127.0.0.1:1"
    })
    try {
      expect(server.stderr()).toContain("Sink listening on 127.0.0.1:")
      const [, ehlo] = await CliProcess.converse({ port: server.port }, ["EHLO client.test\r\n", "QUIT\r\n"])
      expect(ehlo).toContain("250-SIZE 999\r\n")
    } finally {
      await server.stop("SIGTERM")
    }
  })

  it("a variable with a value its flag would refuse: exit 2, naming the flag", () => {
    const run = spawnSync(process.execPath, [main], {
      env: { ...process.env, EFFECT_SMTPD_SIZE: "big" },
      encoding: "utf8",
      timeout: 30_000
    })
    expect(run.status).toBe(2)
    // one line, naming the variable, its flag and its value
    expect(run.stderr).toMatch(/^effect-smtpd: EFFECT_SMTPD_SIZE \(--size\) is "big": expected .*number\n$/)
  })
})
