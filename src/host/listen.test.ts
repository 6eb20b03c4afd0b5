import { describe, expect, it } from 'vitest';
import { formatListen, parseListen } from './listen.js';

describe('listen addresses', () => {
  it('parse into host and port and format back', () => {
    for (const [text, host, port] of [
      ['127.0.0.1:8470', '127.0.0.1', 8470],
      ['site.example:1', 'site.example', 1],
      ['[::1]:65535', '::1', 65535],
    ] as const) {
      expect(parseListen(text)).toEqual({ host, port });
      expect(formatListen({ host, port })).toBe(text);
    }
  });
  it('refuses anything but HOST:PORT', () => {
    for (const text of ['127.0.0.1', ':8470', 'host:0', 'host:65536', 'host:port', '::1:80', 'a b:80']) {
      expect(() => parseListen(text)).toThrow(`--listen '${text}' is not HOST:PORT`);
    }
  });
});
