// A contract test for the experimental oidc-provider helpers our grants use (see issuance/oidc-grant-helpers.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as helpers from '../../issuance/oidc-grant-helpers.ts';

describe('oidc-provider grant helpers', () => {
  it('is the exact oidc-provider version we pinned', () => {
    const installed = JSON.parse(readFileSync(new URL('../../node_modules/oidc-provider/package.json', import.meta.url), 'utf8')).version;
    const pinned = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).dependencies['oidc-provider'];
    expect(installed).toBe(pinned);
  });

  it.each(['builtInCibaGrant', 'buildTokenResponse', 'checkDpopReplay', 'checkDpopRequired', 'findAccount', 'resolveRequestedResources', 'validateClientScope', 'validateDpop'])(
    'exports %s as a function',
    (name) => {
      expect(typeof (helpers as Record<string, unknown>)[name]).toBe('function');
    },
  );
});
