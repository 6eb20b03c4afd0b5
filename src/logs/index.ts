import { existsSync, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { OutpostError } from '../errors/index.js';

/** The components of a site server; each logs to `logs/<component>.log` in the data directory. */
export const COMPONENTS = [
  'distmgr',
  'scheduler',
  'sender',
  'despooler',
  'hierman',
  'statmgr',
  'dp',
  'api',
] as const;
export type Component = (typeof COMPONENTS)[number];

export type Loggers = (component: Component) => Logger;

/** One pino logger per component, each writing JSON lines to its own file. */
export function createLoggers(logDir: string, siteCode: string): { log: Loggers; flush(): void } {
  mkdirSync(logDir, { recursive: true });
  const loggers = new Map<Component, Logger>();
  const destinations: ReturnType<typeof pino.destination>[] = [];
  const log = (component: Component): Logger => {
    let logger = loggers.get(component);
    if (!logger) {
      const dest = pino.destination({ dest: join(logDir, `${component}.log`), sync: false, mkdir: true });
      destinations.push(dest);
      logger = pino(
        { base: { site: siteCode, component }, timestamp: pino.stdTimeFunctions.epochTime },
        dest,
      );
      loggers.set(component, logger);
    }
    return logger;
  };
  return {
    log,
    flush: () => {
      for (const d of destinations) d.flushSync();
    },
  };
}

/** Throws unless `name` is a component that logs. */
export function assertComponent(name: string): Component {
  if (!(COMPONENTS as readonly string[]).includes(name)) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `component '${name}' is not known`, {
      hint: `one of ${COMPONENTS.join(', ')}`,
    });
  }
  return name as Component;
}

/**
 * Reads a component's log from byte `offset` (the end minus `tailBytes` when offset is absent);
 * returns the complete lines and the offset to continue from, for `logs --follow`.
 */
export async function readLog(
  logDir: string,
  component: Component,
  offset: number | undefined,
  tailBytes = 64 * 1024,
): Promise<{ lines: string[]; next: number }> {
  const file = join(logDir, `${component}.log`);
  if (!existsSync(file)) return { lines: [], next: 0 };
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    let start = offset ?? Math.max(0, size - tailBytes);
    if (start > size) start = 0;
    const buf = Buffer.alloc(size - start);
    await handle.read(buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    const lastNewline = text.lastIndexOf('\n');
    if (lastNewline < 0) return { lines: [], next: start };
    let lines = text.slice(0, lastNewline).split('\n');
    if (offset === undefined && start > 0) lines = lines.slice(1);
    return {
      lines: lines.filter((l) => l.length > 0),
      next: start + Buffer.byteLength(text.slice(0, lastNewline + 1)),
    };
  } finally {
    await handle.close();
  }
}
