import { describe, expect, it } from 'vitest';
import { errorFromResponse, exitCodeFor, httpStatusFor, OutpostError, toErrorBody } from './index.js';

describe('errorFromResponse', () => {
  it('keeps the code, message and hint a remote Outpost server sent', () => {
    const sent = toErrorBody(
      new OutpostError('OUTPOST_SITE_EXISTS', 'site S02 exists', { hint: 'pick another code' }),
    );
    const err = errorFromResponse(sent.status, JSON.stringify(sent.body), 'http://x/api/v1/sites');
    expect(err).toMatchObject({
      code: 'OUTPOST_SITE_EXISTS',
      message: 'site S02 exists',
      hint: 'pick another code',
    });
    expect(httpStatusFor(err.code)).toBe(409);
    expect(exitCodeFor(err.code)).toBe(2);
  });

  it('names the URL, status and start of the body for anything else', () => {
    const proxy = errorFromResponse(502, '<html>Bad Gateway</html>', 'http://x/s2s/v1/reports');
    expect(proxy.code).toBe('OUTPOST_UNREACHABLE');
    expect(proxy.message).toBe('http://x/s2s/v1/reports answered HTTP 502: <html>Bad Gateway</html>');
    expect(errorFromResponse(500, '', 'http://x/').message).toBe('http://x/ answered HTTP 500');
    const unknownCode = errorFromResponse(400, '{"error":{"code":"NOPE","message":"m"}}', 'http://x/');
    expect(unknownCode.code).toBe('OUTPOST_UNREACHABLE');
    expect(errorFromResponse(404, 'null', 'http://x/').code).toBe('OUTPOST_UNREACHABLE');
  });
});
