// Plain JavaScript on purpose: it has to run on a Node too old to load our TypeScript (type stripping needs
// Node 22.18), to say so in one line instead of failing with ERR_UNKNOWN_FILE_EXTENSION. Every entry point
// (`npm start`, the `agentauth` CLI, `npm run keys`) goes through it.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const minimum = /^>=\s*(\d+\.\d+\.\d+|\d+\.\d+)$/.exec(engines.node)?.[1];

/** Why `version` (e.g. `20.20.2`) cannot run agentauth, or undefined when it can. */
export function nodeVersionProblem(version, required = minimum) {
  const have = version.split('.').map(Number);
  const need = required.split('.').map(Number);
  for (let index = 0; index < need.length; index += 1) {
    if ((have[index] ?? 0) > need[index]) return undefined;
    if ((have[index] ?? 0) < need[index]) {
      return `agentauth needs Node.js ${required} or newer (24 LTS recommended) and this is ${version}: install it from https://nodejs.org or with your version manager (\`nvm install\` reads .nvmrc)`;
    }
  }
  return undefined;
}

/** Runs the TypeScript module at `entry` (relative to this file) once the running Node can. */
export async function runOnSupportedNode(entry) {
  const problem = nodeVersionProblem(process.versions.node);
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
  await import(new URL(entry, import.meta.url).href);
}

// Run directly (`node bin/require-node.mjs`, as `npm test` does first): exit 1 with the one line on an older Node.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const problem = nodeVersionProblem(process.versions.node);
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
}
