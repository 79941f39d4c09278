#!/usr/bin/env node
// `npm run keys`, once the Node version is known to be one that runs it.
import { runOnSupportedNode } from './require-node.mjs';

await runOnSupportedNode('../keys/cli.ts');
