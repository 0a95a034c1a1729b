import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  // examples/testing-your-handler imports the package by its name, as an application does
  resolve: {
    alias: [
      { find: /^effect-smtpd$/, replacement: source("./src/index.ts") },
      { find: /^effect-smtpd\/testing$/, replacement: source("./src/testing/index.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    // which outside tools (HAProxy, swaks, Postfix's, aiosmtpd, …) are here, checked once per run
    globalSetup: ["test/utils/tools.setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // `vitest bench` (npm run bench:micro) runs src/**/*.bench.ts; `vitest run` never does
    benchmark: {
      // imported functions are read through getters under the module runner, as they were under
      // vitest 3: the overhead is part of every figure so far, so keep it and drop the warning
      suppressExportGetterWarnings: true
    }
  }
})
