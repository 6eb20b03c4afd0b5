import { OutpostError } from '../errors/index.js';

// The names of sites, DPs and packages are checked here, below every domain folder, so the command
// line can check what it is given without loading the domain (and the database and protocol with it).

const SITE_CODE = /^[A-Z0-9]{3}$/;
const DP_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const PACKAGE_ID = /^[A-Z0-9]{3}[0-9A-F]{5}$/;

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

/** Throws unless `id` is a package id: the creating site's code and 5 upper-case hex digits. */
export function assertPackageId(id: string): string {
  if (!PACKAGE_ID.test(id)) {
    throw new OutpostError('OUTPOST_BAD_PACKAGE_ID', `package id '${id}' is not valid`, {
      hint: "a package id is the creating site's code and 5 upper-case hex digits, e.g. C0100012",
    });
  }
  return id;
}

/** Message severities, least to most severe (`status messages --severity` counts on the order). */
export const SEVERITIES = ['info', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Whether `text` has the form of a client id. */
export function isClientId(text: string): boolean {
  return /^[0-9a-f]{16}$/.test(text);
}

/** Throws unless `text` is a client id. */
export function assertClientId(text: string): string {
  if (!isClientId(text))
    throw new OutpostError('OUTPOST_BAD_INPUT', `client id '${text}' must be 16 lower-case hex digits`);
  return text;
}
