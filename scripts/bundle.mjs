// The effect-smtpd command as one file: `node scripts/bundle.mjs [outfile]` (npm run build
// writes dist/effect-smtpd.js, the package's bin). Node loading the ~600 modules of Effect,
// Schema, effect/cli and platform-node one by one leaves the process at ~98 MiB of RSS before
// its first connection; as one file, 72-73 MiB (Effect 4, Node 22; on Effect 3 and Node 20 it
// was ~95 and 65-69 MiB, bench/README.md). The library itself is not bundled: applications
// import dist/ as tsc wrote it.
import { build } from "esbuild"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")

// node:sqlite (the mail queue's SQLite client) is loaded only when a queue is opened: loaded at
// start-up it cost every run ~7 MiB of RSS and an ExperimentalWarning, and a Node without it
// could not start the command at all
const lazySqlite = {
  name: "lazy-node-sqlite",
  setup(build) {
    build.onResolve({ filter: /^node:sqlite$/ }, () => ({ path: "node:sqlite", namespace: "lazy-sqlite" }))
    build.onLoad({ filter: /.*/, namespace: "lazy-sqlite" }, () => ({
      contents: `const load = () => process.getBuiltinModule("node:sqlite")
export class DatabaseSync { constructor(...args) { return new (load().DatabaseSync)(...args) } }
export const backup = (...args) => load().backup(...args)`,
      loader: "js"
    }))
  }
}

// made on first use (creating it costs every start ~5 MiB of RSS), under a name of its own (the
// bundled code imports createRequire too)
const requireBanner = [
  'import { createRequire as __effectSmtpdCreateRequire } from "node:module";',
  "let __effectSmtpdRequire;",
  "const require = (id) => (__effectSmtpdRequire ??= __effectSmtpdCreateRequire(import.meta.url))(id);"
].join(" ")
const outfile = path.resolve(process.argv[2] ?? path.join(root, "dist/effect-smtpd.js"))
// mailparser (for --class Inbox) and its dependencies in a file of their own beside the command:
// in the command's file, parsed at every start, they held ~20 MiB of RSS whether used or not
const parserName = "effect-smtpd-mailparser.js"
const separateMailparser = {
  name: "separate-mailparser",
  setup(build) {
    build.onResolve({ filter: /^mailparser$/ }, () => ({ path: `./${parserName}`, external: true }))
  }
}

await build({
  // main.ts itself, not a file importing it: the package is marked side-effect free, so an
  // import whose bindings are unused would be dropped
  entryPoints: [path.join(root, "src/cli/main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  plugins: [lazySqlite, separateMailparser],
  // CommonJS dependencies (ws, for the inbox's websocket) require Node's own modules
  banner: { js: requireBanner },
  logLevel: "warning"
})

await build({
  stdin: { contents: 'export * from "mailparser"', resolveDir: root, loader: "js" },
  outfile: path.join(path.dirname(outfile), parserName),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  banner: { js: requireBanner },
  logLevel: "warning"
})
