import { randomBytes } from 'node:crypto';
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

/**
 * A DP name is `CODE` (the site's own default DP) or `CODE/NAME`. Only default DPs exist so far,
 * so a named one is refused rather than silently treated as the default.
 */
export function parseDpName(text: string): { site: string; dp: string } {
  const [site, name, ...rest] = text.split('/');
  if (rest.length > 0 || name !== undefined) {
    if (name !== undefined && rest.length === 0 && isSiteCode(site) && /^[A-Za-z0-9_-]{1,32}$/.test(name)) {
      throw new OutpostError('OUTPOST_BAD_DP', `DP '${text}': named DPs are not supported yet`, {
        hint: `use the site's default DP: ${site}`,
      });
    }
    throw new OutpostError('OUTPOST_BAD_DP', `DP '${text}' is not valid`, {
      hint: 'write CODE or CODE/NAME',
    });
  }
  assertSiteCode(site, 'DP site code');
  return { site, dp: site };
}
