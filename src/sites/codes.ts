import { createHash, randomBytes } from 'node:crypto';
import { SITE_TYPES, type SiteType } from '../db/index.js';
import { OutpostError } from '../errors/index.js';

const JOIN_TOKEN = /^([A-Z0-9]{3})\.([A-Za-z0-9_-]{20,})$/;

/** Whether `token` has the shape of a join token: the site code, a dot and the secret. */
export function isJoinToken(token: string): boolean {
  return JOIN_TOKEN.test(token);
}

/** What the parent keeps of a join token: its SHA-256. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** A new one-time join token for site `code`: the code, a dot and 24 random bytes. */
export function newJoinToken(code: string): string {
  return `${code}.${randomBytes(24).toString('base64url')}`;
}

/** Splits a join token into the code of the site it is for and its secret; throws unless well-formed. */
export function parseJoinToken(token: string): { code: string; secret: string } {
  const m = JOIN_TOKEN.exec(token);
  if (!m) {
    throw new OutpostError('OUTPOST_JOIN_TOKEN_INVALID', 'join token is malformed', {
      hint: 'use the token printed by site add',
    });
  }
  return { code: m[1], secret: m[2] };
}

/** Throws unless `type` names a site type. */
export function assertSiteType(type: string): SiteType {
  if (!(SITE_TYPES as readonly string[]).includes(type)) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `site type '${type}' is not valid`, {
      hint: 'use primary or secondary',
    });
  }
  return type as SiteType;
}
