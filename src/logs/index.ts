import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { OutpostError } from '../errors/index.js';
import {
  DEFAULT_ROTATION,
  type LogCursor,
  type LogRead,
  logFile,
  RotatingFile,
  type RotationLimits,
  readLogFiles,
} from './files.js';

export { DEFAULT_ROTATION, type LogCursor, type LogRead, type RotationLimits, rotateFile } from './files.js';
export { formatLogLine } from './format.js';

/** The components of a site server; each logs to `logs/<component>.log` in the data directory. */
export const COMPONENTS = [
  'distmgr',
  'scheduler',
  'sender',
  'despooler',
  'hierman',
  'statmgr',
  'dp',
  'mp',
  'api',
  'rebuild',
] as const;
export type Component = (typeof COMPONENTS)[number];

export type Loggers = (component: Component) => Logger;

/**
 * One pino logger per component, each writing JSON lines to its own file, rotated by size. Every
 * line carries `site`, the site that wrote it; a line about another site names it `peer`.
 */
export function createLoggers(
  logDir: string,
  siteCode: string,
  rotation: RotationLimits = DEFAULT_ROTATION,
): { log: Loggers } {
  mkdirSync(logDir, { recursive: true });
  const loggers = new Map<Component, Logger>();
  const log = (component: Component): Logger => {
    let logger = loggers.get(component);
    if (!logger) {
      logger = pino(
        { base: { site: siteCode, component }, timestamp: pino.stdTimeFunctions.epochTime },
        new RotatingFile(logFile(logDir, component), rotation),
      );
      loggers.set(component, logger);
    }
    return logger;
  };
  return { log };
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
 * Reads a component's log, its rotated files included, from `from` (its last `tailBytes` when
 * absent); returns the complete lines and the cursor to continue from, for `logs --follow`.
 */
export function readLog(
  logDir: string,
  component: Component,
  from: LogCursor | undefined,
  tailBytes = 64 * 1024,
): Promise<LogRead> {
  return readLogFiles(logFile(logDir, component), from, tailBytes);
}
