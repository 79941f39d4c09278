// Admin request bodies are parsed into typed values once, here; the first problem becomes a 400 that names
// the offending field.
import type { z } from 'zod';
import { InvalidField } from './http-error.ts';
import { findUnstorableText, textProblemMessage } from './storable-text.ts';

export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const problem = findUnstorableText(input);
  if (problem) throw new InvalidField(problem.path.length ? problem.path.join('.') : 'body', textProblemMessage(problem));
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : 'body';
  throw new InvalidField(field, issue.message);
}
