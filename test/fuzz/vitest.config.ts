// The fuzz suite (`npm run fuzz`): property tests with many runs, kept out of `npm test`, whose
// include is test/**/*.test.ts. FUZZ_RUNS and FUZZ_SEED tune it (see fuzz.ts).
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/fuzz/fuzz.ts"],
    testTimeout: 600_000,
    hookTimeout: 60_000
  }
})
