#!/usr/bin/env node
// `npm start`: the server, once the Node version is known to be one that runs it.
import { runOnSupportedNode } from './require-node.mjs';

await runOnSupportedNode('../server/main.ts');
