// The command as users run it, for the CLI tests: src/cli/main.ts bundled by scripts/bundle.mjs
// (as `npm run build` ships it) into a temporary directory before the file's tests, with the web
// inbox's files beside it (scripts/inbox-ui.mjs), removed after. Node cannot run the sources
// directly (their imports name .js files), and vitest 5 has no vite-node.
import { afterAll, beforeAll } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

/** The path of the built command, there once the file's `beforeAll` has run. */
export const builtCommand = (): string => {
  const buildDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-build-"))
  const main = Path.join(buildDir, "effect-smtpd.js")
  beforeAll(() => {
    const bundle = Path.resolve(import.meta.dirname, "../../scripts/bundle.mjs")
    const result = spawnSync(process.execPath, [bundle, main], { encoding: "utf8", timeout: 60_000 })
    if (result.status !== 0) throw new Error(`scripts/bundle.mjs exited ${result.status}: ${result.stderr}`)
    // an ES module, as the package's package.json says for dist/ (without it Node 22 parses the
    // file as CommonJS first, then again: +13 MiB of RSS at start)
    Fs.writeFileSync(Path.join(buildDir, "package.json"), '{ "type": "module" }\n')
    // the web inbox's files beside it, where the command looks for them (as in dist/)
    const ui = Path.resolve(import.meta.dirname, "../../scripts/inbox-ui.mjs")
    const built = spawnSync(process.execPath, [ui, Path.join(buildDir, "inbox-ui")], {
      encoding: "utf8",
      timeout: 60_000
    })
    if (built.status !== 0) throw new Error(`scripts/inbox-ui.mjs exited ${built.status}: ${built.stderr}`)
  }, 60_000)
  afterAll(() => Fs.rmSync(buildDir, { recursive: true, force: true }))
  return main
}
