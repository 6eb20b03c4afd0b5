import { createHash, randomBytes } from 'node:crypto';
import { SITE_TYPES, type SiteType } from '../db/index.js';
import { OutpostError } from '../errors/index.js';

const SITE_CODE = /^[A-Z0-9]{3}$/;
const JOIN_TOKEN = /^([A-Z0-9]{3})\.([A-Za-z0-9_-]{20,})$/;

/** Whether `code` is a site code: exactly three characters A–Z or 0–9. */
export function isSiteCode(code: string): boolean {
  return SITE_CODE.test(code);
}

/** Throws unless `code` is a site code: exactly three characters A–Z or 0–9. */
export function assertSiteCode(code: string, what = 'site code'): string {
  if (!isSiteCode(code)) {
    throw new OutpostError('OUTPOST_BAD_SITE_CODE', `${what} '${code}' is not valid`, {
      hint: 'a site code is exactly 3 characters A-Z or 0-9, e.g. C01',
    });
  }
  return code;
}

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

const DP_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** Throws unless `name` can name a DP of a site: 1–32 characters A–Z, a–z, 0–9, `_` or `-`. */
export function assertDpName(name: string): string {
  if (!DP_NAME.test(name)) {
    throw new OutpostError('OUTPOST_BAD_DP', `DP name '${name}' is not valid`, {
      hint: 'a DP name is 1-32 characters A-Z, a-z, 0-9, _ or -',
    });
  }
  return name;
}

/**
 * A DP name is `CODE` (the site's own default DP) or `CODE/NAME` (a named DP of that site). Only
 * the form is checked here; whether a named DP exists is for the site that acts on it.
 */
export function parseDpName(text: string): { site: string; dp: string; name: string | null } {
  const [site, name, ...rest] = text.split('/');
  if (rest.length > 0 || (name !== undefined && !DP_NAME.test(name)) || !isSiteCode(site)) {
    throw new OutpostError('OUTPOST_BAD_DP', `DP '${text}' is not valid`, {
      hint: 'write CODE or CODE/NAME, e.g. S02 or S02/lab (a name is 1-32 characters A-Z, a-z, 0-9, _ or -)',
    });
  }
  return name === undefined ? { site, dp: site, name: null } : { site, dp: text, name };
}
