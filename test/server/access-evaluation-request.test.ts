import { describe, expect, it } from 'vitest';
import { parseEvaluationsRequest } from '../../server/access-evaluation-request.ts';
import { evaluateInOrder } from '../../server/routes/access-evaluation.ts';
import { HttpError } from '../../server/http-error.ts';

const alice = { type: 'user', id: 'alice@example.com' };
const read = { name: 'can_read' };
const doc = (id: string) => ({ type: 'document', id });

describe('AuthZEN §7.1.1 default values', () => {
  it('fills each evaluation from the top level; an evaluation\'s own member replaces the default', () => {
    const parsed = parseEvaluationsRequest({
      subject: alice, action: read, context: { time: 't' },
      evaluations: [{ resource: doc('1') }, { action: { name: 'can_edit' }, resource: doc('2'), context: { time: 'u' } }],
    });
    expect(parsed).toEqual({
      kind: 'batch', semantic: 'execute_all',
      evaluations: [
        { subject: alice, action: read, resource: doc('1'), context: { time: 't' } },
        { subject: alice, action: { name: 'can_edit' }, resource: doc('2'), context: { time: 'u' } },
      ],
    });
  });

  it('keeps unknown members of entities (properties and beyond) and ignores unknown top-level members', () => {
    const parsed = parseEvaluationsRequest({ subject: { ...alice, properties: { department: 'Sales' }, extra: 1 }, action: read, resource: doc('1'), future_member: true });
    expect(parsed).toMatchObject({ kind: 'single', evaluation: { subject: { properties: { department: 'Sales' } } } });
  });

  it('names the evaluation and member that has neither its own value nor a default', () => {
    const problem = (() => { try { parseEvaluationsRequest({ action: read, evaluations: [{ subject: alice, resource: doc('1') }, { resource: doc('2') }] }); } catch (error) { return error; } })();
    expect(problem).toBeInstanceOf(HttpError);
    expect(problem).toMatchObject({ status: 400, field: 'evaluations.1.subject' });
  });

  it('reads the semantic from options', () => {
    expect(parseEvaluationsRequest({ subject: alice, action: read, options: { evaluations_semantic: 'permit_on_first_permit' }, evaluations: [{ resource: doc('1') }] }))
      .toMatchObject({ semantic: 'permit_on_first_permit' });
  });
});

describe('AuthZEN §7.1.2.1 evaluations semantics', () => {
  const answers = [true, false, true, false];
  const run = (semantic: 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit', decided = answers) => {
    const asked: number[] = [];
    return evaluateInOrder(decided.map((_, index) => index), semantic, async (index) => {
      asked.push(index);
      return decided[index] ? { decision: true } : { decision: false, context: { reason: 'no', rule: 'scope_not_allowed' } };
    }).then((result) => ({ decisions: result.map((answer) => answer.decision), asked }));
  };

  it('execute_all answers every evaluation in order', async () => {
    expect(await run('execute_all')).toEqual({ decisions: answers, asked: [0, 1, 2, 3] });
  });

  it('deny_on_first_deny stops after the first deny, like &&, and evaluates nothing after it', async () => {
    expect(await run('deny_on_first_deny')).toEqual({ decisions: [true, false], asked: [0, 1] });
    expect(await run('deny_on_first_deny', [true, true])).toEqual({ decisions: [true, true], asked: [0, 1] });
  });

  it('permit_on_first_permit stops after the first permit, like ||', async () => {
    expect(await run('permit_on_first_permit', [false, true, false])).toEqual({ decisions: [false, true], asked: [0, 1] });
    expect(await run('permit_on_first_permit', [false, false])).toEqual({ decisions: [false, false], asked: [0, 1] });
  });
});
