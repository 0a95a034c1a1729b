// The layout rules of ARCHITECTURE.md, checked on the sources: no import cycle between files or
// between folders, a protocol core that imports nothing but `effect`, and a public surface
// (package.json's exports, src/index.ts) with no internal module in it. And one rule of
// docs/performance/gc.md: the session engine makes no generator function per session or message.
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const src = Path.join(root, "src")

const sources = (dir: string): ReadonlyArray<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = Path.join(dir, entry.name)
    if (entry.isDirectory()) return sources(file)
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [file] : []
  })

// type-only imports and re-exports count: they tie the modules together as much
const specifiers = (file: string): ReadonlyArray<string> =>
  Array.from(
    Fs.readFileSync(file, "utf8").matchAll(/(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/g),
    (match) => match[1]!
  )

const graph = (): Map<string, ReadonlyArray<string>> =>
  new Map(
    sources(src).map((file) => [
      file,
      specifiers(file)
        .filter((spec) => spec.startsWith("."))
        .map((spec) => Path.resolve(Path.dirname(file), spec).replace(/\.js$/, ".ts"))
    ])
  )

// the strongly connected groups of more than one node (Tarjan)
const cycles = (edges: Map<string, ReadonlyArray<string>>): Array<Array<string>> => {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const found: Array<Array<string>> = []
  const visit = (node: string) => {
    index.set(node, index.size)
    low.set(node, index.get(node)!)
    stack.push(node)
    for (const next of edges.get(node) ?? []) {
      if (!edges.has(next)) continue
      if (!index.has(next)) {
        visit(next)
        low.set(node, Math.min(low.get(node)!, low.get(next)!))
      } else if (stack.includes(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!))
    }
    if (low.get(node) !== index.get(node)) return
    const group: Array<string> = []
    let member: string
    do {
      member = stack.pop()!
      group.push(Path.relative(root, member))
    } while (member !== node)
    if (group.length > 1) found.push(group)
  }
  for (const node of edges.keys()) if (!index.has(node)) visit(node)
  return found
}

const folders = (files: Map<string, ReadonlyArray<string>>) => {
  const edges = new Map<string, Set<string>>()
  for (const [file, deps] of files) {
    const from = Path.dirname(file)
    const set = edges.get(from) ?? new Set<string>()
    for (const dep of deps) if (Path.dirname(dep) !== from) set.add(Path.dirname(dep))
    edges.set(from, set)
  }
  return new Map(Array.from(edges, ([folder, deps]) => [folder, Array.from(deps)]))
}

describe("architecture", () => {
  it("has no import cycle between files", () => {
    expect(cycles(graph())).toEqual([])
  })

  it("has no import cycle between folders", () => {
    expect(cycles(folders(graph()))).toEqual([])
  })

  it("keeps src/protocol sans-IO: it imports effect and itself only", () => {
    const outside = sources(Path.join(src, "protocol"))
      .filter((file) => !file.endsWith(".bench.ts"))
      .flatMap((file) =>
        specifiers(file)
          .filter((spec) => !(spec === "effect" || spec.startsWith("effect/") || spec.startsWith("./")))
          .map((spec) => `${Path.relative(root, file)}: ${spec}`)
      )
    expect(outside).toEqual([])
  })

  it("exports no internal module (package.json exports, src/index.ts)", () => {
    const exports = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")).exports as Record<
      string,
      { readonly import: string }
    >
    const exported = Object.values(exports).map((entry) => entry.import)
    for (const target of exported) {
      const source = Path.join(src, Path.relative("./dist", target).replace(/\.js$/, ".ts"))
      expect(Fs.existsSync(source), `${target} has no source`).toBe(true)
    }
    const internal = [
      ...exported,
      ...specifiers(Path.join(src, "index.ts")),
      ...specifiers(Path.join(src, "testing/index.ts"))
    ].filter((path) =>
      /(^|\/)internal\/|\/(NodeTransport|ReadBuffers|Listening|Cluster|NodeProxyHeader)\.js$/.test(path)
    )
    expect(internal).toEqual([])
  })

  it("makes no generator function per session or message in the session engine (docs/performance/gc.md)", () => {
    // what runs for every session or message: generators there are methods or module functions,
    // never a `function* ()` expression made each time the code around it runs
    const perSession = [
      "internal/Authentication.ts",
      "internal/DataSection.ts",
      "internal/HookFiber.ts",
      "internal/Hooks.ts",
      "internal/Live.ts",
      "internal/ParkedSession.ts",
      "internal/ProxiedTransport.ts",
      "internal/Reader.ts",
      "internal/SessionLoop.ts",
      "node/NodeTransport.ts",
      "session/SmtpSession.ts"
    ]
    const made = perSession.filter((file) => /function\s*\*\s*\(/.test(Fs.readFileSync(Path.join(src, file), "utf8")))
    expect(made).toEqual([])
  })
})
