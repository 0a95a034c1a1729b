// The programs outside Node that some tests run: real clients (swaks, curl, python3's smtplib),
// real upstreams (Postfix's smtp-sink, Debian's aiosmtpd), HAProxy, openssl, PostgreSQL's server
// (the SQL mail queue's tests start throw-away clusters, test/utils/postgres.ts) and Chromium (the
// web inbox's browser tests, driven by playwright-core). A test or group
// whose tool is missing is skipped (`describe.skipIf(skipWithout("haproxy"))`), unless tools are
// required (CI=true, or SMTPD_REQUIRE_TOOLS=1): then it runs, and fails on the missing tool.
//
// test/utils/tools.setup.ts (vitest's globalSetup) detects them once per run, prints one line per
// missing tool and hands its findings to the test workers in EFFECT_SMTPD_TOOLS; without it each
// worker detects and prints for itself.
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

interface Spec {
  /** What is missing, for the notice. */
  readonly what: string
  /** The Debian package that brings it (scripts/test-tools.sh installs them all). */
  readonly package: string
  readonly present: () => boolean
}

// Debian installs some in /usr/sbin, which is not on a normal user's PATH
const directories = () => [
  ...(process.env["PATH"] ?? "").split(Path.delimiter),
  "/usr/local/sbin",
  "/usr/sbin",
  "/sbin"
]

/** Where `name` is installed (PATH, then the sbin directories), if it is. */
export const which = (name: string): string | undefined =>
  directories()
    .filter((dir) => dir !== "")
    .map((dir) => Path.join(dir, name))
    .find((file) => {
      try {
        Fs.accessSync(file, Fs.constants.X_OK)
        return Fs.statSync(file).isFile()
      } catch {
        return false
      }
    })

/**
 * The Python to run: the system's when there is one (it starts in a tenth of the time pyenv's shim
 * takes), else the first python3 on PATH, which `have("python3")` checked.
 */
export const python3 = (() => {
  try {
    Fs.accessSync("/usr/bin/python3", Fs.constants.X_OK)
    return "/usr/bin/python3"
  } catch {
    return "python3"
  }
})()

/**
 * The directory of PostgreSQL's server programs (initdb, pg_ctl, postgres, createdb): Debian keeps
 * them off PATH in /usr/lib/postgresql/<version>/bin (the newest version wins), elsewhere they are
 * on PATH.
 */
export const postgresBin = (): string | undefined => {
  const programs = ["initdb", "pg_ctl", "postgres", "createdb"]
  const complete = (dir: string) => programs.every((name) => Fs.existsSync(Path.join(dir, name)))
  const debian = "/usr/lib/postgresql"
  const versions = Fs.existsSync(debian)
    ? Fs.readdirSync(debian)
        .filter((name) => /^\d+(\.\d+)?$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : []
  const found = versions.map((version) => Path.join(debian, version, "bin")).find(complete)
  if (found !== undefined) return found
  const initdb = which("initdb")
  return initdb !== undefined && complete(Path.dirname(initdb)) ? Path.dirname(initdb) : undefined
}

const installed =
  (...names: ReadonlyArray<string>) =>
  () =>
    names.every((name) => which(name) !== undefined)

// a module check: the program runs and exits 0
const runs = (command: string, args: ReadonlyArray<string>) => () =>
  ChildProcess.spawnSync(command, [...args], { stdio: "ignore", timeout: 10_000 }).status === 0

const specs = {
  haproxy: { what: "haproxy", package: "haproxy", present: installed("haproxy") },
  swaks: { what: "swaks", package: "swaks", present: installed("swaks") },
  "net-ssleay": {
    what: "perl's Net::SSLeay (for swaks --tls)",
    package: "libnet-ssleay-perl",
    present: runs("perl", ["-MNet::SSLeay", "-e", "1"])
  },
  postfix: {
    what: "Postfix's smtp-sink, smtp-source and posttls-finger",
    package: "postfix",
    present: installed("smtp-sink", "smtp-source", "posttls-finger")
  },
  python3: { what: "python3", package: "python3", present: installed("python3") },
  aiosmtpd: {
    what: "Debian's aiosmtpd for /usr/bin/python3",
    package: "python3-aiosmtpd",
    present: runs("/usr/bin/python3", ["-c", "import aiosmtpd"])
  },
  curl: { what: "curl", package: "curl", present: installed("curl") },
  openssl: { what: "openssl", package: "openssl", present: installed("openssl") },
  postgres: {
    what: "PostgreSQL's server (initdb, pg_ctl, postgres)",
    package: "postgresql",
    present: () => postgresBin() !== undefined
  },
  chromium: { what: "Chromium (the web inbox's browser tests)", package: "chromium", present: installed("chromium") },
  promtool: {
    what: "Prometheus's promtool (checks the metrics text)",
    package: "prometheus",
    present: installed("promtool")
  },
  spamd: {
    what: "SpamAssassin's spamd (the inbox's SpamAssassin check)",
    package: "spamd",
    present: installed("spamd")
  }
} satisfies Record<string, Spec>

export type Tool = keyof typeof specs

export const isTool = (name: string): name is Tool => Object.hasOwn(specs, name)

export const allTools = Object.keys(specs) as ReadonlyArray<Tool>

/** Which tools are installed, checked now. */
export const detect = (): Record<Tool, boolean> =>
  Object.fromEntries(allTools.map((tool) => [tool, specs[tool].present()])) as Record<Tool, boolean>

/** The variable in which the global setup hands its findings to the test workers. */
export const detectedVariable = "EFFECT_SMTPD_TOOLS"

/**
 * Missing tools fail their tests instead of skipping them: under CI=true, or SMTPD_REQUIRE_TOOLS=1.
 * SMTPD_REQUIRE_TOOLS=0 skips them even under CI.
 */
export const required = (env: NodeJS.ProcessEnv = process.env): boolean => {
  const explicit = env["SMTPD_REQUIRE_TOOLS"]
  if (explicit !== undefined && explicit !== "") return explicit !== "0" && explicit !== "false"
  return env["CI"] === "true" || env["CI"] === "1"
}

const why = (env: NodeJS.ProcessEnv) =>
  env["SMTPD_REQUIRE_TOOLS"] !== undefined && env["SMTPD_REQUIRE_TOOLS"] !== ""
    ? `SMTPD_REQUIRE_TOOLS=${env["SMTPD_REQUIRE_TOOLS"]}`
    : `CI=${env["CI"]}`

/** How to install a tool. */
export const installHint = (tool: Tool) =>
  `run \`npm run test:tools\` or apt-get install -y --no-install-recommends ${specs[tool].package}`

/** The one line printed for a missing tool. */
export const notice = (tool: Tool, env: NodeJS.ProcessEnv = process.env) =>
  required(env)
    ? `FAILING: ${specs[tool].what} is not installed and ${why(env)} requires it: the tests that need it fail; ${installHint(tool)}`
    : `skipped: ${specs[tool].what} is not installed, so the tests that need it are skipped; ${installHint(tool)}`

// the global setup's findings, or this worker's own (each tool checked once, when first asked)
const handedDown = (): Partial<Record<Tool, boolean>> => {
  const text = process.env[detectedVariable]
  return text === undefined ? {} : (JSON.parse(text) as Partial<Record<Tool, boolean>>)
}
const known = handedDown()
const announced = new Set<Tool>()

/** Whether `tool` is installed. */
export const have = (tool: Tool): boolean => {
  const found = known[tool]
  if (found !== undefined) return found
  const present = specs[tool].present()
  known[tool] = present
  // no global setup said so already: this worker says it
  if (!present && !announced.has(tool)) {
    announced.add(tool)
    console.log(notice(tool))
  }
  return present
}

/**
 * For `describe.skipIf` / `it.skipIf`: true when one of `tools` is missing and tools are not
 * required. When they are, the tests run and fail on the missing tool.
 */
export const skipWithout = (...tools: ReadonlyArray<Tool>): boolean =>
  tools.filter((tool) => !have(tool)).length > 0 && !required()
