// How an organization's id is spelled wherever the admin API takes one: it goes into tokens (`org_id`) and URLs.
import { z } from 'zod';

export const organizationId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1–63 lower-case letters, digits, "_" or "-", starting with a letter or digit');
