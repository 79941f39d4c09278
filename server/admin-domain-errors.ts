// The admin API's one translation of what stores refuse (adapters/domain-error.ts) into answers: 400 naming the
// field for a request that cannot be carried out as sent, 409 (no field: the request is not at fault) for one the
// records' state forbids for now. Routes do not catch store errors; anything that is not a DomainError goes on to app.ts's error handler unchanged.
import type { Middleware } from 'koa';
import { DomainError } from '../adapters/domain-error.ts';
import { HttpError, InvalidField } from './http-error.ts';

export function domainErrorAnswers(): Middleware {
  return async function answerDomainErrors(_ctx, next) {
    try {
      await next();
    } catch (error) {
      throw error instanceof DomainError ? httpErrorFor(error) : error;
    }
  };
}

export function httpErrorFor(error: DomainError): HttpError {
  return error.kind === 'conflict' ? new HttpError(409, 'invalid_request', error.detail) : new InvalidField(error.field, error.detail);
}
