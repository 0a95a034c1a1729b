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

await build({
  // main.ts itself, not a file importing it: the package is marked side-effect free, so an
  // import whose bindings are unused would be dropped
  entryPoints: [path.join(root, "src/cli/main.ts")],
  outfile: path.resolve(process.argv[2] ?? path.join(root, "dist/effect-smtpd.js")),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  plugins: [lazySqlite],
  // CommonJS dependencies (mailparser, for --class Inbox) require Node's modules
  banner: { js: 'import { createRequire as __effectSmtpdRequire } from "node:module"; const require = __effectSmtpdRequire(import.meta.url);' },
  logLevel: "warning"
})
