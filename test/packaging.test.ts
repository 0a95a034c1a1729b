// The package as an application gets it (issue 17, point 1): the tarball `npm pack` makes,
// installed from the file into a fresh ESM application and a fresh CommonJS one (npm init's
// "type": "commonjs") beside effect and @effect/platform-node from the registry. Each compiles
// with tsc (module NodeNext) and runs a session on the in-memory server; `require` of the
// package works (Node 22 loads ES modules with require) and one copy of effect is installed.
// Needs the npm registry: without it the test is skipped, except under CI.
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const npm = (args: ReadonlyArray<string>, cwd: string, timeout = 180_000) =>
  spawnSync("npm", [...args], { cwd, encoding: "utf8", timeout })
// the versions an application of today would install: the newest of the range the package allows
const effectVersion = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")).devDependencies.effect
const registry = npm(["view", `effect@${effectVersion}`, "version"], root, 30_000).status === 0
if (!registry && process.env.CI !== "true") {
  console.log("test/packaging.test.ts: skipped, the npm registry cannot be reached")
}

const program = `import { Effect } from "effect"
import { MessageHandler, Recording } from "effect-smtpd"
import { SmtpTest } from "effect-smtpd/testing"

const program = Effect.gen(function* () {
  const server = yield* SmtpTest.server()
  const client = yield* server.connect
  yield* client.reply
  yield* SmtpTest.command(client, "EHLO app.test")
  yield* client.send("MAIL FROM:<a@example.com>\\r\\nRCPT TO:<b@example.com>\\r\\nDATA\\r\\n")
  yield* client.replies(3)
  yield* client.send("Subject: packed\\r\\n\\r\\nhi\\r\\n.\\r\\n")
  const reply = yield* client.reply
  const deliveries = yield* Recording.deliveries
  return \`\${reply.code} \${deliveries.length} \${typeof MessageHandler.make}\`
}).pipe(Effect.scoped, Effect.provide(Recording.layer))

Effect.runPromise(program).then((line) => console.log(line))
`

describe.skipIf(!registry && process.env.CI !== "true")("the packed package in a fresh application", () => {
  it("an ESM and a CommonJS application install it, compile against it and run it", () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-package-"))
    try {
      const built = npm(["run", "build"], root)
      expect(built.status, built.stderr).toBe(0)
      const packed = npm(["pack", "--pack-destination", dir, "--silent"], root)
      expect(packed.status, packed.stderr).toBe(0)
      const tarball = Path.join(dir, packed.stdout.trim().split("\n").at(-1)!)
      for (const type of ["module", "commonjs"] as const) {
        const app = Path.join(dir, type)
        Fs.mkdirSync(Path.join(app, "src"), { recursive: true })
        Fs.writeFileSync(Path.join(app, "package.json"), JSON.stringify({ name: `app-${type}`, private: true, type }))
        Fs.writeFileSync(
          Path.join(app, "tsconfig.json"),
          JSON.stringify({
            compilerOptions: { target: "ES2022", module: "NodeNext", strict: true, outDir: "out", types: ["node"] },
            include: ["src"]
          })
        )
        Fs.writeFileSync(Path.join(app, "src", "main.ts"), program)
        const installed = npm(
          [
            "install",
            "--no-audit",
            "--no-fund",
            tarball,
            `effect@${effectVersion}`,
            `@effect/platform-node@${effectVersion}`,
            "@types/node@22"
          ],
          app
        )
        expect(installed.status, installed.stderr).toBe(0)
        // one copy of effect: the application's
        const copies = spawnSync("find", ["node_modules", "-path", "*node_modules/effect/package.json"], {
          cwd: app,
          encoding: "utf8"
        }).stdout.trim()
        expect(copies.split("\n")).toEqual(["node_modules/effect/package.json"])
        const compiled = spawnSync(process.execPath, [Path.join(root, "node_modules/typescript/bin/tsc"), "-p", app], {
          encoding: "utf8",
          timeout: 120_000
        })
        expect(compiled.status, compiled.stdout).toBe(0)
        const emitted = Fs.readFileSync(Path.join(app, "out", "main.js"), "utf8")
        expect(emitted).toContain(type === "commonjs" ? 'require("effect-smtpd")' : 'from "effect-smtpd"')
        const ran = spawnSync(process.execPath, [Path.join(app, "out", "main.js")], {
          encoding: "utf8",
          timeout: 60_000
        })
        expect(ran.stderr).not.toMatch(/Error/)
        expect(ran.stdout.trim()).toBe("250 1 function")
      }
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 600_000)
})
