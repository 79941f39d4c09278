import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages (packages/verifier) are imported by name as their users do, but from their TypeScript
  // sources: the `@agentauth/source` export condition (also in tsconfig's customConditions) needs no build first.
  ssr: { resolve: { conditions: ['@agentauth/source', ...defaultServerConditions], externalConditions: ['@agentauth/source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Suites start real servers and talk to real Redis/PostgreSQL: give slow CI machines room.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // V8 in Node 24 can abort a process that creates and closes many PGlite (WebAssembly) instances, in wasm code
    // freeing ("Check failed: jit_page_->allocations_.erase(addr) == 1", nodejs/node#64500, open); seen here in
    // full runs, always in a file that starts several embedded servers. Keeping compiled wasm code for the life of
    // the test process avoids that freeing path at the cost of some memory.
    execArgv: ['--no-wasm-code-gc'],
  },
});
