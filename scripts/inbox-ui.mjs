// The web inbox's browser files: `node scripts/inbox-ui.mjs [outdir]` (default dist/inbox-ui)
// bundles src/inbox/ui/inbox.ts into <outdir>/inbox.js and copies index.html and inbox.css
// beside it. The inbox server answers /, /search and /view/{ID} with index.html and serves
// /inbox.js and /inbox.css from the same directory.
import { build } from "esbuild"
import * as fs from "node:fs/promises"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const ui = path.join(root, "src/inbox/ui")
const outdir = path.resolve(process.argv[2] ?? path.join(root, "dist/inbox-ui"))

await fs.mkdir(outdir, { recursive: true })
await build({
  entryPoints: [path.join(ui, "inbox.ts")],
  outfile: path.join(outdir, "inbox.js"),
  bundle: true,
  platform: "browser",
  // a classic script (index.html loads it with defer): no module loading to go wrong
  format: "iife",
  target: "es2020",
  // readable in the browser's devtools; it is a few kB either way
  minify: false,
  // the UI's own settings (DOM types), not the root's Node ones
  tsconfig: path.join(ui, "tsconfig.json"),
  logLevel: "warning"
})
for (const file of ["index.html", "inbox.css"]) {
  await fs.copyFile(path.join(ui, file), path.join(outdir, file))
}
