// The permission check: the OpenID AuthZEN Authorization API 1.0 (final, January 2026) Access Evaluation and
// Access Evaluations APIs (§6, §7) over its HTTPS JSON binding (§10), and the Policy Decision Point metadata
// (§9) at /.well-known/authzen-configuration. The decisions are policy/access-decision.ts's; this file is the
// protocol around it.
//
// Authentication of the PEP is out of the spec's scope ("Support for OAuth 2.0 is RECOMMENDED"). Ours: an access
// token we issued for the PDP's resource `<issuer>/access/v1` carrying the `authzen:evaluate` scope, presented
// as `Authorization: Bearer` (RFC 6750), or, when the token is DPoP-bound, as `Authorization: DPoP` with a
// proof of its key (RFC 9449 §7), or the operator's ADMIN_TOKEN (what `agentauth check` sends). The
// operator registers `<issuer>/access/v1` as a resource defining that scope and grants the scope to the clients
// allowed to ask; RFC 9728 metadata for it is then served like any resource's.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { authzenDefaults, clockTolerance, dpopSigningAlgorithms } from '../../config/defaults.ts';
import { verifyDpopProof } from '../../packages/verifier/src/dpop-proof.ts';
import { VerifierError } from '../../packages/verifier/src/errors.ts';
import type { ReplayStore } from '../../packages/verifier/src/replay-store.ts';
import type { PresentedTokens } from '../../tokens/presented-tokens.ts';
import { PresentedTokenError } from '../../tokens/presented-token-error.ts';
import { decideAccess, type AccessDecision } from '../../policy/access-decision.ts';
import type { AccessFacts } from '../access-facts.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import { parseEvaluationRequest, parseEvaluationsRequest, type Evaluation, type EvaluationsSemantic } from '../access-evaluation-request.ts';
import { bearerToken, secretsEqual } from '../bearer-token.ts';
import { HttpError } from '../http-error.ts';
import { readJson } from '../read-body.ts';
import { pathInsertedMetadataUrl } from './protected-resource-metadata.ts';
import type Provider from 'oidc-provider';
import { errors as oidcErrors } from 'oidc-provider';

export const EVALUATION_PATH = '/access/v1/evaluation';
/** How old (or early) a PEP's DPoP proof may be, as oidc-provider's default for the token endpoint's proofs. */
const DPOP_IAT_WINDOW_SECONDS = 300;
export const EVALUATIONS_PATH = '/access/v1/evaluations';
export const AUTHZEN_METADATA_PATH = '/.well-known/authzen-configuration';

/** The resource identifier (RFC 8707) a PEP's access token must be for. */
export function pdpResourceIdentifier(issuer: string): string {
  return `${issuer}/access/v1`;
}

export interface AccessEvaluationDependencies {
  issuer: string;
  provider: Provider;
  adminToken: string;
  presented: Pick<PresentedTokens, 'ownAccessToken'>;
  facts: AccessFacts;
  /** Every decision is audited (`access.evaluated`), as a token issued or refused is. */
  audit: Pick<AuditLog, 'record'>;
}

/** Who asked: the client whose token authenticated the PEP, or the operator with ADMIN_TOKEN. */
type Pep = { clientId: string } | { admin: true };

export function accessEvaluationRoutes(deps: AccessEvaluationDependencies): Router {
  const router = new Router();
  const resource = pdpResourceIdentifier(deps.issuer);
  const scope = authzenDefaults.scope;
  // RFC 9728 §5.1: the challenge points the PEP at the metadata that says where to get a token, and for what.
  const challenge = (error?: { code: string; description: string }) => [
    `Bearer realm="${deps.issuer}"`,
    `resource_metadata="${pathInsertedMetadataUrl(resource)}"`,
    ...(error ? [`error="${error.code}"`, `error_description="${error.description.replace(/["\\]/g, "'")}"`] : []),
    ...(error?.code === 'insufficient_scope' ? [`scope="${scope}"`] : []),
  ].join(', ');

  // RFC 9449 §7.1: the DPoP scheme's own challenge, naming the proof algorithms we accept.
  const dpopChallenge = (error: { code: string; description: string }) =>
    `DPoP realm="${deps.issuer}", algs="${dpopSigningAlgorithms.join(' ')}", error="${error.code}", error_description="${error.description.replace(/["\\]/g, "'")}"`;
  // A proof is used once, on any instance: the same atomic one-time claim the token endpoint's proofs go through
  // (oidc-provider's ReplayDetection over our adapters).
  // Our adapters answer a second claim of the same id by throwing oidc-provider's invalid_dpop_proof
  // (adapters/storage-rules.ts), which is a replay here too.
  const replayStore: ReplayStore = {
    checkAndStore: (key, ttlSeconds) => deps.provider.ReplayDetection.unique(`${resource}#dpop`, key, Math.floor(Date.now() / 1000) + ttlSeconds)
      .catch((error: unknown) => {
        if (error instanceof oidcErrors.InvalidDpopProof) return false;
        throw error;
      }),
  };

  async function authenticatePep(ctx: Context, next: Next): Promise<void> {
    const authorization = ctx.get('authorization');
    const dpopToken = /^DPoP ([A-Za-z0-9\-._~+/]+=*)$/.exec(authorization)?.[1];
    const token = bearerToken(authorization) ?? dpopToken;
    if (!token) {
      // RFC 6750 §3.1: a request without credentials gets the challenge and no error code; a malformed one is
      // invalid_request (400), but a scheme we do not take is still just "no credentials" for us.
      const description = `the permission check requires Authorization: Bearer <access token for ${resource} with scope ${scope}>`;
      throw new HttpError(401, 'invalid_request', description, { headers: { 'WWW-Authenticate': challenge() } });
    }
    if (secretsEqual(token, deps.adminToken)) {
      ctx.state.pep = { admin: true } satisfies Pep;
      return next();
    }
    let presented;
    try {
      presented = await deps.presented.ownAccessToken(deps.provider, token);
    } catch (error) {
      if (!(error instanceof PresentedTokenError)) throw error;
      const description = error.message.replace(/^access_token/, 'the access token');
      throw new HttpError(401, 'invalid_token', description, { headers: { 'WWW-Authenticate': challenge({ code: 'invalid_token', description }) } });
    }
    const refuse = (status: 401 | 403, code: string, description: string) =>
      new HttpError(status, code, description, { headers: { 'WWW-Authenticate': challenge({ code, description }) } });
    // RFC 8707: a token for another resource is not a credential here, whatever its scopes say.
    if (!presented.audiences?.includes(resource)) throw refuse(401, 'invalid_token', `the access token is not for ${resource}`);
    const refuseDpop = (code: string, description: string) => new HttpError(401, code, description, { headers: { 'WWW-Authenticate': dpopChallenge({ code, description }) } });
    if (presented.jkt) {
      // RFC 9449 §7.2: a DPoP-bound token is not a bearer token.
      if (!dpopToken) throw refuseDpop('invalid_token', 'the access token is DPoP-bound: present it as Authorization: DPoP with a DPoP proof');
      try {
        await verifyDpopProof({ method: ctx.method, url: `${deps.issuer}${ctx.path}`, headers: ctx.headers }, token, presented.jkt, {
          algorithms: dpopSigningAlgorithms, iatWindowSeconds: DPOP_IAT_WINDOW_SECONDS + clockTolerance, replayStore, requireContentDigest: false,
        });
      } catch (error) {
        if (!(error instanceof VerifierError)) throw error;
        throw refuseDpop(error.error ?? 'invalid_dpop_proof', error.message);
      }
    } else if (dpopToken) {
      throw refuseDpop('invalid_token', 'the access token is not DPoP-bound: present it as Authorization: Bearer');
    }
    if (!presented.scopes?.includes(scope)) throw refuse(403, 'insufficient_scope', `the access token lacks the ${scope} scope`);
    ctx.state.pep = (presented.clientId ? { clientId: presented.clientId } : { admin: true }) satisfies Pep;
    return next();
  }

  /** §10 "Request Identification": the PEP's X-Request-ID comes back on the response, whatever it is. */
  async function echoRequestId(ctx: Context, next: Next): Promise<void> {
    const id = ctx.get('x-request-id');
    try {
      await next();
    } finally {
      if (id) ctx.set('X-Request-ID', id);
    }
  }

  const decide = async (evaluation: Evaluation): Promise<AccessDecision> => {
    const given = evaluation.context?.access_token;
    return decideAccess({
      subject: evaluation.subject,
      action: evaluation.action,
      resource: evaluation.resource,
      facts: await deps.facts.subject(evaluation.subject),
      resourceOrganizations: await deps.facts.resourceOrganizations(evaluation.resource.type),
      ...(given === undefined ? {} : { token: typeof given === 'string' ? await deps.facts.token(given) : { active: false, reason: 'context.access_token is not a string' } }),
    });
  };

  /** One decision, audited: who asked (the PEP), about whom, what, and the verdict with its rule. */
  const evaluatorFor = (ctx: Context) => async (evaluation: Evaluation): Promise<AccessDecision> => {
    const answer = await decide(evaluation);
    const pep = ctx.state.pep as Pep;
    deps.audit.record({
      event: 'access.evaluated',
      outcome: answer.decision ? 'success' : 'failure',
      ...(answer.decision ? {} : { reason: answer.context.rule }),
      ...('clientId' in pep ? { clientId: pep.clientId } : { actor: { admin: true } }),
      subject: `${evaluation.subject.type}:${evaluation.subject.id}`,
      requestId: ctx.state.requestId,
      sourceIp: ctx.ip,
      details: {
        action: evaluation.action.name,
        resource: `${evaluation.resource.type}:${evaluation.resource.id}`,
        decision: answer.decision,
      },
    });
    return answer;
  };

  router.get(AUTHZEN_METADATA_PATH, (ctx) => {
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = {
      policy_decision_point: deps.issuer,
      access_evaluation_endpoint: `${deps.issuer}${EVALUATION_PATH}`,
      access_evaluations_endpoint: `${deps.issuer}${EVALUATIONS_PATH}`,
    };
  });

  router.post(EVALUATION_PATH, echoRequestId, authenticatePep, async (ctx) => {
    ctx.body = await evaluatorFor(ctx)(parseEvaluationRequest(await readJson(ctx)));
  });

  router.post(EVALUATIONS_PATH, echoRequestId, authenticatePep, async (ctx) => {
    const request = parseEvaluationsRequest(await readJson(ctx));
    const evaluate = evaluatorFor(ctx);
    if (request.kind === 'single') {
      ctx.body = await evaluate(request.evaluation);
      return;
    }
    ctx.body = { evaluations: await evaluateInOrder(request.evaluations, request.semantic, evaluate) };
  });

  return router;
}

/**
 * §7.1.2.1: every evaluation in order, or up to and including the first deny (`deny_on_first_deny`, like `&&`)
 * or the first permit (`permit_on_first_permit`, like `||`). Sequential, so a short-circuited batch costs only
 * the evaluations it answers.
 */
export async function evaluateInOrder<T>(items: readonly T[], semantic: EvaluationsSemantic, evaluate: (item: T) => Promise<AccessDecision>): Promise<AccessDecision[]> {
  const answers: AccessDecision[] = [];
  for (const item of items) {
    const answer = await evaluate(item);
    answers.push(answer);
    if (semantic === 'deny_on_first_deny' && !answer.decision) break;
    if (semantic === 'permit_on_first_permit' && answer.decision) break;
  }
  return answers;
}
