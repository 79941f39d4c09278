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
  },
});
