import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
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
