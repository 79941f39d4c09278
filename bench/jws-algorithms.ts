// `npm run bench:jws`: what one JWT access token's signature costs us (sign) and a resource server (verify) with
// jose on this CPU, per algorithm we hold keys for. It decided the default for JWT access tokens (config/defaults.ts):
// the token endpoint signs once per token, every resource server verifies it at least once.
import { cpuUsage } from 'node:process';
import { importJWK, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { generateSigningKey, SIGNING_ALGS } from '../keys/signing-keys.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

// A payload shaped like one of our RFC 9068 access tokens, so the encoding work is the real one.
const payload = {
  iss: 'https://auth.example.com', sub: 'agent_2bX9', aud: 'https://api.example.com/', client_id: 'agent_2bX9',
  scope: 'read write', jti: 'Jq3l0uN0o0nq6pZ8JdVdrF2s1m7xg9AoT8M5QvY6EeW', iat: 1_800_000_000, exp: 1_800_000_600,
};

/** CPU µs per call of `run`, the median of ROUNDS runs of ITERATIONS sequential calls (one thread, as a server). */
async function cpuMicros(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < ITERATIONS / 4; i++) await run(); // warm-up: JIT, OpenSSL contexts
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = cpuUsage();
    for (let i = 0; i < ITERATIONS; i++) await run();
    const used = cpuUsage(before);
    samples.push((used.user + used.system) / ITERATIONS);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
}

console.log(`JWS sign + verify with jose, ${ROUNDS} × ${ITERATIONS} per figure (median), node ${process.version}`);
console.log('alg      sign µs  verify µs  sum µs  token bytes');
for (const alg of SIGNING_ALGS) {
  const { privateJwk } = await generateSigningKey(alg);
  const { d, p, q, dp, dq, qi, ...publicJwk } = privateJwk;
  const privateKey = (await importJWK(privateJwk, alg)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, alg)) as CryptoKey;
  const header = { alg, typ: 'at+jwt', kid: privateJwk.kid };
  const token = await new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
  const sign = await cpuMicros(() => new SignJWT(payload).setProtectedHeader(header).sign(privateKey));
  const verify = await cpuMicros(() => jwtVerify(token, publicKey, { algorithms: [alg], currentDate: new Date(1_800_000_100_000) }));
  console.log(`${alg.padEnd(8)} ${sign.toFixed(0).padStart(7)}  ${verify.toFixed(0).padStart(9)}  ${(sign + verify).toFixed(0).padStart(6)}  ${String(token.length).padStart(11)}`);
}
