import { createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { type IdentityAnswer, identityProof, S2S, s2sJson, sha256Hex } from '../s2s/index.js';
import { check, clockVerdict, type DoctorCheck, PEER_CALL_MS } from './model.js';

/** `POST /s2s/v1/identity`: this site's code, generation, key and clock, its key proved over `nonce`. */
export function answerIdentity(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'keys'>,
  nonce: string,
): IdentityAnswer {
  const { code, generation } = ctx.config;
  return {
    code,
    generation,
    publicKey: ctx.keys.publicKeyPem,
    proof: sign(null, identityProof(nonce, code, generation), ctx.keys.privateKey).toString('base64'),
    time: ctx.clock.now(),
  };
}

/** A neighbour as this site holds it: where it is reached and the identity it accepts from it. */
export interface Neighbour {
  code: string;
  relation: 'parent' | 'child';
  url: string;
  generation: string | null;
  publicKey: string | null;
}

/** The first hex digits of a key's hash, to tell two keys apart in a line. */
function fingerprint(pem: string): string {
  try {
    return sha256Hex(createPublicKey(pem).export({ type: 'spki', format: 'der' })).slice(0, 12);
  } catch {
    return 'unreadable';
  }
}

function proofHolds(pem: string, answer: IdentityAnswer, nonce: string): boolean {
  try {
    return verify(
      null,
      identityProof(nonce, answer.code, answer.generation),
      createPublicKey(pem),
      Buffer.from(answer.proof, 'base64'),
    );
  } catch {
    return false;
  }
}

/** Whether what `peer` says of itself agrees with what this site holds for it. */
function keysVerdict(target: string, self: string, peer: Neighbour, answer: IdentityAnswer, nonce: string) {
  const hint =
    peer.relation === 'child'
      ? `${peer.code} was reinstalled or its key replaced: outpost site replace ${peer.code} (or delete and add it again) and join it anew`
      : `${self} holds a key for ${peer.code} that is not ${peer.code}'s: rejoin ${self} (outpost site replace ${self} at ${peer.code})`;
  if (answer.code !== peer.code)
    return check('keys', target, 'fail', `${peer.url} answers as ${answer.code}, not ${peer.code}`, hint);
  if (answer.generation !== peer.generation)
    return check(
      'keys',
      target,
      'fail',
      `${peer.code} runs generation ${answer.generation}; ${self} holds ${peer.generation ?? 'none'} for it`,
      hint,
    );
  if (!peer.publicKey || !proofHolds(peer.publicKey, answer, nonce))
    return check(
      'keys',
      target,
      'fail',
      `${peer.code} signs with key ${fingerprint(answer.publicKey)}; ${self} holds key ${peer.publicKey ? fingerprint(peer.publicKey) : 'none'} for it (generation ${peer.generation})`,
      hint,
    );
  return check(
    'keys',
    target,
    'ok',
    `${peer.code} proved key ${fingerprint(answer.publicKey)}, generation ${answer.generation}, as ${self} holds them`,
  );
}

/**
 * The checks of the link between this site and a neighbour, from a signed identity call: for a
 * child, that the sender link answers (`senders`); for both, that the neighbour's generation and
 * key are the ones this site holds (`keys`: the neighbour signs a fresh nonce), and the skew of
 * its clock (`clock`). A neighbour that refuses this site's signature fails `keys` too.
 */
export async function linkChecks(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'identity'>,
  peer: Neighbour,
): Promise<DoctorCheck[]> {
  const self = ctx.config.code;
  const target = peer.relation === 'child' ? `${self} -> ${peer.code}` : `${self} -> ${peer.code} (parent)`;
  const nonce = randomBytes(16).toString('hex');
  const started = ctx.clock.now();
  const signal = AbortSignal.timeout(PEER_CALL_MS);
  let answer: IdentityAnswer;
  try {
    answer = await s2sJson<IdentityAnswer>(ctx.identity, peer.url, 'POST', S2S.identity, { nonce }, signal);
  } catch (err) {
    const e = err instanceof OutpostError ? err : new OutpostError('OUTPOST_UNREACHABLE', String(err));
    const detail = signal.aborted ? `${peer.url} did not answer within ${PEER_CALL_MS / 1000}s` : e.message;
    const refused = e.kind === 'unauthorized';
    const out: DoctorCheck[] = [];
    if (peer.relation === 'child')
      out.push(
        check(
          'senders',
          target,
          'fail',
          detail,
          refused
            ? `${peer.code} refuses ${self}'s signature: see the keys check`
            : `is ${peer.code}'s server running and reachable at ${peer.url}? (outpost address list; outpost address set --to ${peer.code} --url URL)`,
        ),
      );
    if (refused)
      out.push(
        check(
          'keys',
          target,
          'fail',
          `${peer.code} refuses ${self}'s signature: ${e.message}`,
          `${peer.code} holds another key or generation for ${self}`,
        ),
      );
    else if (peer.relation === 'parent')
      out.push(
        check(
          'keys',
          target,
          'fail',
          `cannot ask ${peer.code}: ${detail}`,
          `is ${peer.code} running and reachable at ${peer.url}?`,
        ),
      );
    return out;
  }
  const ended = ctx.clock.now();
  const out: DoctorCheck[] = [];
  if (peer.relation === 'child')
    out.push(
      check('senders', target, 'ok', `a signed call to ${peer.url} answered in ${ended - started} ms`),
    );
  out.push(keysVerdict(target, self, peer, answer, nonce));
  out.push(clockVerdict(target, peer.code, answer.time - (started + ended) / 2));
  return out;
}
