// AuthZEN Authorization API 1.0 request bodies (§6.1 Access Evaluation, §7.1 Access Evaluations), parsed once
// into typed evaluations. Members the spec does not define are ignored (the HTTPS binding: receivers MUST ignore
// unknown fields); a required member missing or of the wrong type is a 400 naming it ("If a required attribute
// in the information model is omitted, the server MUST return a Bad Request error").
import { z } from 'zod';
import { authzenDefaults } from '../config/defaults.ts';
import { InvalidField } from './http-error.ts';
import { parseInput } from './validation.ts';

const text = z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(2048, 'must be at most 2048 characters');
const properties = z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }).optional();
const objectError = { error: 'must be a JSON object' };

// §5.1–5.4: Subject and Resource {type, id, properties?}, Action {name, properties?}, Context any object.
const entity = z.looseObject({ type: text, id: text, properties }, objectError);
const action = z.looseObject({ name: text, properties }, objectError);
const context = z.record(z.string(), z.unknown(), objectError);

export const EVALUATIONS_SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;
export type EvaluationsSemantic = (typeof EVALUATIONS_SEMANTICS)[number];

const single = z.looseObject({ subject: entity, action, resource: entity, context: context.optional() }, { error: 'the body must be a JSON object' });

const partial = z.looseObject({ subject: entity.optional(), action: action.optional(), resource: entity.optional(), context: context.optional() }, objectError);
const batch = partial.extend({
  evaluations: z.array(partial, { error: 'must be an array of evaluation objects' })
    .max(authzenDefaults.maxEvaluations, `must hold at most ${authzenDefaults.maxEvaluations} evaluations`).optional(),
  // §7.1.2: `options` is open-ended; only `evaluations_semantic` means anything to us.
  options: z.looseObject({
    evaluations_semantic: z.enum(EVALUATIONS_SEMANTICS, { error: `must be one of ${EVALUATIONS_SEMANTICS.join(', ')}` }).optional(),
  }, objectError).optional(),
}).strip();

export type Entity = z.infer<typeof entity>;
export interface Evaluation {
  subject: Entity;
  action: z.infer<typeof action>;
  resource: Entity;
  context: Record<string, unknown> | undefined;
}

export function parseEvaluationRequest(body: unknown): Evaluation {
  const { subject, action, resource, context } = parseInput(single, body);
  return { subject, action, resource, context };
}

export type EvaluationsRequest =
  /** No (or an empty) `evaluations` array: the request is a single evaluation (§7.1) and answered as one. */
  | { kind: 'single'; evaluation: Evaluation }
  | { kind: 'batch'; evaluations: Evaluation[]; semantic: EvaluationsSemantic };

export function parseEvaluationsRequest(body: unknown): EvaluationsRequest {
  const parsed = parseInput(batch, body);
  if (!parsed.evaluations?.length) return { kind: 'single', evaluation: parseEvaluationRequest(body) };
  // §7.1.1: the top-level members are defaults; an evaluation's own member replaces the default.
  const evaluations = parsed.evaluations.map((item, index): Evaluation => {
    const member = <K extends 'subject' | 'action' | 'resource'>(key: K) => {
      const value = item[key] ?? parsed[key];
      if (!value) throw new InvalidField(`evaluations.${index}.${key}`, `is required, in the evaluation or as a top-level default`);
      return value;
    };
    return { subject: member('subject'), action: member('action'), resource: member('resource'), context: item.context ?? parsed.context };
  });
  return { kind: 'batch', evaluations, semantic: parsed.options?.evaluations_semantic ?? 'execute_all' };
}
