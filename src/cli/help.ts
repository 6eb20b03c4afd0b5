import { type Command, Help, type Option } from 'commander';

/**
 * Examples for each command's --help, keyed by command path (`site list`; '' is `outpost` itself).
 * help.test.ts checks that every command has some, so a new command needs an entry here.
 */
export const EXAMPLES: Record<string, string[]> = {
  '': [
    'outpost init --code C01 --data /srv/c01 --listen 127.0.0.1:8470',
    'outpost serve --data /srv/c01 &',
    'outpost site list --data /srv/c01',
    'outpost demo --once',
  ],
  init: [
    'outpost init --code C01 --data /srv/c01 --listen 127.0.0.1:8470',
    'outpost init --code C01 --data /srv/c01 --database postgres://outpost@db/outpost',
  ],
  serve: [
    'outpost serve --data /srv/c01',
    'outpost serve --data /srv/s02 --listen 0.0.0.0:8471 --heartbeat 30s',
    'outpost serve --data /srv/c01 --listen 10.0.0.6:8470 --max-transfers 8   # another process of a PostgreSQL site',
  ],
  demo: [
    'outpost demo',
    'outpost demo --once --dir /tmp/outpost-demo',
    'outpost demo --once --json > demo.json',
  ],
  completion: [
    'outpost completion bash > /etc/bash_completion.d/outpost',
    "echo 'source <(outpost completion zsh)' >> ~/.zshrc",
    'outpost completion fish > ~/.config/fish/completions/outpost.fish',
  ],
  content: [
    'outpost content export --dp S02 --out /mnt/disk/s02 --data /srv/c01',
    'outpost content preload --dir /mnt/disk/s02 --data /srv/s02',
    'outpost content verify --repair --data /srv/s02',
  ],
  'content export': [
    'outpost content export --dp S02 --out /mnt/disk/s02 --data /srv/c01',
    'outpost content export --package C0100001,C0100002 --out /srv/export --server http://c01:8470 --token "$TOKEN"',
  ],
  'content preload': [
    'outpost content preload --dir /mnt/disk/s02 --data /srv/s02',
    'outpost content preload --dir /mnt/old-s02-data C0100001 --json --data /srv/s02',
    'outpost content preload --from-dp http://10.0.2.6:8471/dp --data /srv/s02',
  ],
  rebuild: [
    'outpost rebuild plan S02 --export-to /mnt/disk/s02 --data /srv/c01',
    'outpost rebuild start S02 --export-to /mnt/disk/s02 --clone-from S03 --data /srv/c01',
    'outpost rebuild status S02 --data /srv/c01',
  ],
  'rebuild plan': [
    'outpost rebuild plan S02 --data /srv/c01',
    'outpost rebuild plan S02 --preload-from /mnt/old-s02 --clone-from S03 --json --data /srv/c01',
    'outpost rebuild plan S02 --preload-from-dp http://s03:8471 --data /srv/c01',
  ],
  'rebuild start': [
    'outpost rebuild start S02 --export-to /mnt/disk/s02 --join-deadline 168h --data /srv/c01',
    'outpost rebuild start S02 --path readd --preload-from /mnt/backup/s02 --data /srv/c01',
  ],
  'rebuild status': [
    'outpost rebuild status S02 --data /srv/c01',
    'outpost rebuild status S02 --json --data /srv/c01',
  ],
  'rebuild resume': [
    'outpost rebuild resume S02 --done export --data /srv/c01   # the old host exported its content',
    'outpost rebuild resume S02 --done preload --data /srv/c01  # the new host preloaded it',
    'outpost rebuild resume S02 --data /srv/c01                 # run a failed step again',
  ],
  'rebuild check': [
    'outpost rebuild check S02 --data /srv/c01',
    'outpost rebuild check S02 --redistribute --data /srv/c01',
  ],
  'rebuild abort': [
    'outpost rebuild abort S02 --data /srv/c01',
    'outpost rebuild abort S02 --yes --data /srv/c01',
  ],
  site: ['outpost site list --data /srv/c01', 'outpost site show S02 --data /srv/c01'],
  'site add': [
    'outpost site add --data /srv/c01 --code S02 --type secondary --url http://10.0.2.5:8471',
    'outpost site add --server http://c01:8470 --token "$TOKEN" --code P01 --type primary --url http://p01:8470 --join-deadline 30m',
  ],
  'site join': [
    'outpost site join --data /srv/s02 --parent http://c01:8470 --token S02.xxxxxxxx',
    'outpost site join --data /srv/s02 --parent http://c01:8470 --token S02.xxxxxxxx --service systemd',
  ],
  'site delete': [
    'outpost site delete S02 --dry-run --data /srv/c01',
    'outpost site delete P01 --recursive --data /srv/c01',
  ],
  'site purge': ['outpost site purge S02 --data /srv/c01'],
  'site replace': [
    'outpost site replace S02 --data /srv/c01',
    'outpost site join --data /srv/s02 --parent http://c01:8470 --token S02.xxxxxxxx   # on the new host',
    'outpost host purge --code S02 --data /old/s02 --yes   # later, on the old host',
  ],
  'site list': [
    'outpost site list --data /srv/c01',
    'outpost site list -o wide --data /srv/c01',
    'outpost site list -o name --data /srv/c01',
  ],
  'site show': ['outpost site show S02 --data /srv/c01', 'outpost site show S02 --json --data /srv/c01'],
  package: [
    'outpost package list --data /srv/c01',
    'outpost package create --name "Demo App" --source ./app --data /srv/c01',
  ],
  'package create': [
    'outpost package create --name "Demo App" --source /srv/sources/app --data /srv/c01',
    'ID=$(outpost package create --name App --source ./app -o name --data /srv/c01)',
  ],
  'package update': [
    'outpost package update C0100001 --data /srv/c01',
    'outpost package update C0100001 --source /srv/sources/app-2.0 --data /srv/c01',
  ],
  'package list': ['outpost package list --data /srv/c01', 'outpost package list -o name --data /srv/c01'],
  'package show': [
    'outpost package show C0100001 --data /srv/c01',
    'outpost package show C0100001 --json --data /srv/c01',
  ],
  dp: ['outpost dp list --data /srv/c01', 'outpost dp assign C0100001 --dp S02 --data /srv/c01'],
  'dp list': ['outpost dp list --data /srv/c01', 'outpost dp list --site S02 -o wide --data /srv/c01'],
  'dp assign': [
    'outpost dp assign C0100001 --dp S02 --data /srv/c01',
    'outpost dp assign C0100001 --dp S02 S03 --data /srv/c01',
  ],
  'dp unassign': ['outpost dp unassign C0100001 --dp S02 --data /srv/c01'],
  'dp redistribute': ['outpost dp redistribute C0100001 --dp S02 --data /srv/c01'],
  'dp add': [
    'outpost dp add --site S02 --name lab --data /srv/s02',
    'outpost dp add --site S02 --name lab --url http://dp-lab.branch.example/ --data /srv/s02',
  ],
  'dp remove': [
    'outpost dp remove S02/lab --data /srv/s02',
    'outpost dp remove S02/lab --force --yes --data /srv/s02',
  ],
  'dp clone': [
    'outpost dp clone --from S03 --to S02 --dry-run --data /srv/c01',
    'outpost dp clone --from S02 --to S02/lab --data /srv/c01',
  ],
  'content verify': [
    'outpost content verify --data /srv/s02',
    'outpost content verify --package C0100001 --repair --data /srv/s02',
  ],
  status: [
    'outpost status packages --not-installed --data /srv/c01',
    'outpost status messages --severity warning --data /srv/c01',
  ],
  'status packages': [
    'outpost status packages --data /srv/c01',
    'outpost status packages --site S02 --not-installed --data /srv/c01',
  ],
  'status summary': [
    'outpost status summary --data /srv/c01',
    'outpost status summary --json --data /srv/c01',
  ],
  'status messages': [
    'outpost status messages --since 10m --data /srv/c01',
    'outpost status messages --severity warning --site S02 --data /srv/c01',
    'outpost status messages --follow --data /srv/c01',
  ],
  job: ['outpost job list --data /srv/c01', 'outpost job delete --site S02 --job 274f5a34 --data /srv/c01'],
  'job list': [
    'outpost job list --data /srv/c01',
    'outpost job list --site S02 --state failed -o wide --data /srv/c01',
  ],
  'job delete': [
    'outpost job delete --site S02 --job 274f5a34 --data /srv/c01',
    'outpost job delete --site S02 --data /srv/c01',
  ],
  logs: ['outpost logs sender --data /srv/c01', 'outpost logs hierman --follow --data /srv/c01'],
  address: [
    'outpost address list --data /srv/c01',
    'outpost address set --to S02 --schedule 20-6 --data /srv/c01',
  ],
  'address list': ['outpost address list --data /srv/c01'],
  'address set': [
    'outpost address set --to S02 --rate-limit 512 --schedule 20-6 --data /srv/c01',
    'outpost address set --to S02 --concurrency 2 --retries 5 --retry-delay 30s --data /srv/c01',
  ],
  boundary: [
    'outpost boundary add --site S02 --range 10.2.0.0/16 --name branch-s02 --data /srv/c01',
    'outpost boundary list --data /srv/c01',
  ],
  'boundary add': [
    'outpost boundary add --site S02 --range 10.2.0.0/16 --name branch-s02 --data /srv/c01',
    'outpost boundary add --site S02 --range 10.2.7.10-10.2.7.99 --data /srv/c01',
    'outpost boundary add --site S02 --range fd00:2::/64 --data /srv/c01',
  ],
  'boundary list': [
    'outpost boundary list --data /srv/c01',
    'outpost boundary list --site S02 --json --data /srv/s02',
  ],
  'boundary delete': [
    'outpost boundary delete branch-s02 --data /srv/c01',
    'outpost boundary delete branch-s02 --yes --data /srv/c01',
  ],
  deployment: [
    'outpost deployment create --package C0100001 --command "setup.exe /quiet" --site S02 --data /srv/c01',
    'outpost deployment list --data /srv/c01',
  ],
  'deployment create': [
    'outpost deployment create --package C0100001 --command "setup.exe /quiet" --site S02 --data /srv/c01',
    'outpost deployment create --package C0100001 --command "./install.sh" --boundary branch-s02 --timeout 30m --fallback --data /srv/c01',
    'outpost deployment create --package C0100001 --command "msiexec /i app.msi /qn" --client 3f9a0c1d2e4b5a67 --success-codes 0,3010 --data /srv/c01',
  ],
  'deployment list': [
    'outpost deployment list --data /srv/c01',
    'outpost deployment list -o wide --data /srv/s02',
  ],
  'deployment delete': [
    'outpost deployment delete C01D00001 --data /srv/c01',
    'outpost deployment delete C01D00001 --yes --data /srv/c01',
  ],
  client: [
    'outpost client run --mp http://s02.branch:8471',
    'outpost client run --mp http://c01.example:8471 --data /var/lib/outpost-client --once --json',
    'outpost client list --site S02 --data /srv/c01',
  ],
  'client list': [
    'outpost client list --data /srv/c01',
    'outpost client list --site S02 --json --data /srv/c01',
  ],
  'client show': [
    'outpost client show 3f9a0c1d2e4b5a67 --data /srv/c01',
    'outpost client show 3f9a0c1d2e4b5a67 --json --data /srv/s02',
  ],
  'client run': [
    'outpost client run --mp http://s02.branch:8471 --data /var/lib/outpost-client',
    'outpost client run --mp http://c01.example:8471 --once --json',
    'outpost client run --mp http://s02.branch:8471 --bind 10.2.0.17 --rate-limit 512 --interval 5m --name pc-17',
  ],
  'status deployments': [
    'outpost status deployments --data /srv/c01',
    'outpost status deployments --site S02 --json --data /srv/c01',
    'outpost status deployments --deployment C01D00001 --clients --data /srv/c01',
  ],
  host: ['outpost host audit --code S02', 'outpost host purge --code S02 --data /srv/s02 --yes'],
  'host audit': ['outpost host audit --code S02', 'outpost host audit --code S02 --data /srv/s02 --json'],
  'host purge': [
    'outpost host purge --code S02 --data /srv/s02',
    'outpost host purge --code S02 --data /srv/s02 --yes',
  ],
  doctor: [
    'outpost doctor --data /srv/c01',
    'outpost doctor --data /srv/c01 --site S02 --full',
    'outpost doctor --server http://c01:8470 --token T --site S02 --json',
    'outpost doctor --preflight http://c01:8470 --token S02.xxxxxxxx --data /srv/s02',
  ],
};

/** Every command under `root` with its path (`site list`), the root itself first as ''. */
export function commandPaths(root: Command): [path: string, cmd: Command][] {
  const out: [string, Command][] = [['', root]];
  const walk = (cmd: Command, prefix: string) => {
    for (const sub of cmd.commands) {
      const path = prefix ? `${prefix} ${sub.name()}` : sub.name();
      out.push([path, sub]);
      walk(sub, path);
    }
  };
  walk(root, '');
  return out;
}

// Commander says nothing of a required option in help; this puts "(required)" after its description.
class OutpostHelp extends Help {
  override optionDescription(option: Option): string {
    const text = super.optionDescription(option);
    return option.mandatory ? `${text} (required)` : text;
  }
}

/** Adds the Examples section and the required-option marks to every command's --help. */
export function teachHelp(root: Command): void {
  for (const [path, cmd] of commandPaths(root)) {
    cmd.createHelp = () => Object.assign(new OutpostHelp(), cmd.configureHelp());
    const examples = EXAMPLES[path];
    if (examples) cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  }
}
