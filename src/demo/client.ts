import { join } from 'node:path';
import { type AgentEvent, ClientAgent } from '../client/index.js';
import type { DeploymentSummary, DeploymentView } from '../mp/index.js';
import type { Hierarchy } from './hierarchy.js';
import { waitFor } from './processes.js';

type Say = (line: string) => void;

function describe(e: AgentEvent): string | null {
  switch (e.event) {
    case 'registered':
      return `registered at ${e.site}'s management point as ${e.client} (${e.address}, boundary ${e.boundary})`;
    case 'verified':
      return `downloaded ${e.files} file(s) of ${e.package} from ${e.dp}, each verified by SHA-256`;
    case 'ran':
      return `ran '${e.command}': exit ${e.exitCode ?? 'none (killed)'}`;
    case 'reported':
      return `reported ${e.state}`;
    default:
      return null;
  }
}

/**
 * The demo's last step, the loop closed at a client: a boundary at C01 puts this machine
 * (127.0.0.1) in S02's branch, a deployment runs the package's install script on S02's clients, a
 * client agent in this process gets its policy from S02, downloads from S02's DP, runs it and
 * reports, and C01 sees the outcome come up the hierarchy.
 */
export async function runDemoClient(
  h: Hierarchy,
  packageId: string,
  dir: string,
  say: Say,
  signal?: AbortSignal,
): Promise<DeploymentSummary> {
  const { C01, S02 } = h.sites;
  await C01.admin.post('/boundaries', { site: 'S02', range: '127.0.0.1/32', name: 's02-branch' });
  const d = await C01.admin.post<DeploymentView>('/deployments', {
    package: packageId,
    command: 'sh install.sh',
    sites: ['S02'],
    timeout: '1m',
  });
  say(
    `deployment ${d.id} made at C01: run 'sh install.sh' on S02's clients (boundary 127.0.0.1/32 is S02's branch)`,
  );
  await waitFor(
    `deployment ${d.id} and its boundary at S02`,
    60_000,
    async () =>
      (await S02.admin.get<DeploymentView[]>('/deployments')).some((x) => x.id === d.id) &&
      (await S02.admin.get<{ name: string }[]>('/boundaries')).some((b) => b.name === 's02-branch'),
    250,
    signal,
  );
  const agent = await ClientAgent.open(
    { mp: S02.url, dataDir: join(dir, 'client'), name: 'demo-pc' },
    (e) => {
      const line = describe(e);
      if (line) say(`  client: ${line}`);
    },
  );
  try {
    const done = new AbortController();
    signal?.addEventListener('abort', () => done.abort(), { once: true });
    await waitFor(
      `the client to run deployment ${d.id}`,
      60_000,
      async () => {
        const poll = await agent.poll(done.signal);
        const outcome = poll.deployments.find((x) => x.deployment === d.id);
        if (outcome?.state === 'failed') throw new Error(`the demo client failed: ${outcome.reason ?? ''}`);
        return outcome?.state === 'succeeded';
      },
      500,
      signal,
    );
  } finally {
    await agent.close();
  }
  const row = await waitFor(
    `C01 to see the client's report of ${d.id}`,
    60_000,
    async () =>
      (await C01.admin.get<DeploymentSummary[]>('/status/deployments')).find(
        (r) => r.deployment === d.id && r.site === 'S02' && r.succeeded === 1,
      ),
    250,
    signal,
  );
  say(`deployment ${d.id} as C01 sees it: S02 ${row.succeeded} succeeded, ${row.failed} failed`);
  return row;
}
