#!/usr/bin/env node
// The `agentauth` command, once the Node version is known to be one that runs it.
import { runOnSupportedNode } from './require-node.mjs';

await runOnSupportedNode('./agentauth.ts');
