import { OutpostError } from '../errors/index.js';

/** Where a site server listens unless told otherwise. */
export const DEFAULT_LISTEN = '127.0.0.1:8470';

/** Where a site server listens: a host name or address (IPv6 without brackets) and a port. */
export interface ListenAddress {
  host: string;
  port: number;
}

const LISTEN = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;

/** Parses `HOST:PORT` (an IPv6 host in brackets); throws unless it is one. */
export function parseListen(text: string): ListenAddress {
  const m = LISTEN.exec(text);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `--listen '${text}' is not HOST:PORT`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** Writes a listen address as `HOST:PORT`, bracketing an IPv6 host. */
export function formatListen(address: ListenAddress): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
