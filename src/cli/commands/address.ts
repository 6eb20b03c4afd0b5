import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import type { AddressSetting, AddressView } from '../../replication/index.js';
import { type CommonOptions, parseIntOption, serverOptions } from '../options.js';
import { printJson, printRows } from '../output.js';

/** A setting's value, marked when it is the default (so a setting reset to it still shows). */
function setting(r: AddressView, name: AddressSetting, text: string): string {
  return r.defaults.includes(name) ? `${text} (default)` : text;
}

function printAddresses(json: boolean, rows: AddressView[]): void {
  printRows(json, rows, [
    ['to', (r) => r.site],
    ['url', (r) => r.url],
    [
      'rate limit',
      (r) => setting(r, 'rateLimitKiBps', r.rateLimitKiBps ? `${r.rateLimitKiBps} KiB/s` : 'none'),
    ],
    ['schedule', (r) => setting(r, 'schedule', r.schedule ?? 'always')],
    ['concurrency', (r) => setting(r, 'concurrency', String(r.concurrency))],
    ['retries', (r) => setting(r, 'retries', String(r.retries))],
    ['retry delay', (r) => setting(r, 'retryDelayMs', `${r.retryDelayMs / 1000}s`)],
  ]);
}

export function registerAddressCommands(program: Command): void {
  const address = program
    .command('address')
    .description('sender addresses: how this site sends to each child');
  serverOptions(address.command('list'))
    .description('addresses to child sites')
    .action(async (o: CommonOptions) => {
      printAddresses(!!o.json, await (await AdminClient.from(o)).get<AddressView[]>('/addresses'));
    });
  serverOptions(address.command('set'))
    .description('change the address to a child site')
    .requiredOption('--to <code>', 'child site code')
    .option(
      '--rate-limit <KiB/s>',
      'KiB/s (1024 bytes a second), or 0 for none',
      parseIntOption('--rate-limit', 0, 100_000_000),
    )
    .option('--schedule <H-H>', "local hours when sending is allowed, or 'always'")
    .option('--concurrency <n>', 'jobs sent at once', parseIntOption('--concurrency', 1, 64))
    .option(
      '--retries <n>',
      'attempts after the first before a job fails',
      parseIntOption('--retries', 0, 1000),
    )
    .option('--retry-delay <duration>', 'wait between attempts, e.g. 30s')
    .action(
      async (
        o: CommonOptions & {
          to: string;
          rateLimit?: number;
          schedule?: string;
          concurrency?: number;
          retries?: number;
          retryDelay?: string;
        },
      ) => {
        const body = {
          rateLimitKiBps: o.rateLimit === undefined ? undefined : o.rateLimit === 0 ? null : o.rateLimit,
          schedule: o.schedule === undefined ? undefined : o.schedule === 'always' ? null : o.schedule,
          concurrency: o.concurrency,
          retries: o.retries,
          retryDelay: o.retryDelay,
        };
        const r = await (await AdminClient.from(o)).put<AddressView>(
          `/addresses/${encodeURIComponent(o.to)}`,
          body,
        );
        if (o.json) printJson(r);
        else printAddresses(false, [r]);
      },
    );
}
