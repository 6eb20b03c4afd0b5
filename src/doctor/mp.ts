import type { SiteContext } from '../core/index.js';
import { listDeployments, policyPackage } from '../mp/index.js';
import { clientIdOf, generateSiteKeys, loadSiteKeys, MP, signClientRequest } from '../s2s/index.js';
import { errorCodeOf, probe } from './http.js';
import { check, type DoctorCheck } from './model.js';

/** At most this many DP URLs of deployed packages are probed. */
const POLICY_PROBES = 50;

/**
 * Whether the MP answers and checks signatures, as a client would find: a registration signed with
 * another key than the one it carries must be refused (so nothing is registered), and a policy
 * request correctly signed by a throwaway key no one registered must be answered "not registered".
 */
async function mpAnswers(ctx: Pick<SiteContext, 'clock' | 'config'>): Promise<DoctorCheck> {
  const target = ctx.config.code;
  const claimed = generateSiteKeys();
  const signer = loadSiteKeys(generateSiteKeys().privateKeyPem);
  const id = clientIdOf(claimed.publicKeyPem);
  const base = ctx.config.url;
  const hint = `look at outpost logs mp; is ${base} this site's address as clients reach it?`;
  try {
    const body = JSON.stringify({ publicKey: claimed.publicKeyPem, name: 'outpost-doctor' });
    const forged = await probe(new URL(MP.register, base).toString(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signClientRequest(signer, id, { method: 'POST', path: MP.register, body }, ctx.clock.now()),
      },
      body,
    });
    if (forged.status !== 401 || errorCodeOf(forged.text) !== 'OUTPOST_BAD_SIGNATURE')
      return check(
        'mp',
        target,
        'fail',
        `a registration signed with the wrong key was answered HTTP ${forged.status}, not refused 401 OUTPOST_BAD_SIGNATURE`,
        hint,
      );
    const keys = loadSiteKeys(claimed.privateKeyPem);
    const policy = await probe(new URL(MP.policy, base).toString(), {
      method: 'GET',
      headers: signClientRequest(keys, id, { method: 'GET', path: MP.policy, body: '' }, ctx.clock.now()),
    });
    if (policy.status !== 401 || errorCodeOf(policy.text) !== 'OUTPOST_CLIENT_NOT_REGISTERED')
      return check(
        'mp',
        target,
        'fail',
        `a policy request of an unregistered client was answered HTTP ${policy.status} ${policy.text.slice(0, 120)}`,
        hint,
      );
  } catch (err) {
    return check('mp', target, 'fail', (err as Error).message, hint);
  }
  return check('mp', target, 'ok', `${base} answers clients and refuses a forged signature`);
}

/**
 * Whether the policy the MP hands out can be followed: the DPs named for each deployment's package
 * answer HEAD of its first file with the file's ETag.
 */
async function policyConsistent(ctx: Pick<SiteContext, 'config' | 'db'>): Promise<DoctorCheck> {
  const target = `${ctx.config.code} policy`;
  const deployments = await listDeployments(ctx.db);
  const problems: string[] = [];
  let probed = 0;
  for (const d of deployments) {
    const pkg = await policyPackage(ctx, d.package);
    if (!pkg) {
      problems.push(`deployment ${d.id}: package ${d.package} is unknown here`);
      continue;
    }
    const first = pkg.files[0];
    if (!first) continue;
    const own = pkg.dps.filter((dp) => dp.site === ctx.config.code);
    for (const dp of d.fallback ? pkg.dps : own) {
      if (probed >= POLICY_PROBES) break;
      probed++;
      const url = `${dp.url}${first.path.split('/').map(encodeURIComponent).join('/')}`;
      try {
        const res = await probe(url, { method: 'HEAD' });
        if (res.status !== 200 || res.headers.etag !== `"${first.sha256}"`)
          problems.push(
            `deployment ${d.id}: ${url} answered HTTP ${res.status} ETag ${String(res.headers.etag ?? 'none')}`,
          );
      } catch (err) {
        problems.push(`deployment ${d.id}: ${(err as Error).message}`);
      }
    }
  }
  if (problems.length)
    return check(
      'mp',
      target,
      'fail',
      problems.slice(0, 3).join('; ') + (problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''),
      'clients would be sent to a DP that cannot serve the package: see the dp checks and outpost status packages',
    );
  return check(
    'mp',
    target,
    'ok',
    deployments.length
      ? `deployments: ${deployments.length}; DP URLs of their packages probed: ${probed}, each answers with the right ETag`
      : 'no deployments to hand out',
  );
}

/** The management point's checks. */
export async function mpChecks(ctx: Pick<SiteContext, 'clock' | 'config' | 'db'>): Promise<DoctorCheck[]> {
  return Promise.all([mpAnswers(ctx), policyConsistent(ctx)]);
}
