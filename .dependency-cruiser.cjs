/**
 * The layering rule, checked by `npm test` (`npm run lint`): folders import each other only through
 * their index.ts, only downwards, and never in a circle. LAYERS lists the lowest first: a folder
 * may import its own layer and those before it, never one after it.
 */
const LAYERS = [
  ['errors'],
  ['common'],
  ['db', 'logs', 'content', 's2s'],
  ['host', 'status'],
  ['core'],
  ['jobs', 'packages'],
  ['sites', 'dp'],
  ['replication', 'mp'],
  ['rebuild', 'doctor'],
  ['api', 'apiclient'],
  ['server', 'demo', 'client'],
  ['cli'],
];

const folders = (list) => `^src/(${list.join('|')})/`;

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.join('-')}`,
  comment: `${layer.join(', ')} must not import a higher layer (${LAYERS.slice(i + 1).flat().join(', ')})`,
  severity: 'error',
  // Tests beside the code may use the demo's helpers to run real site servers.
  from: { path: folders(layer), pathNot: '\\.test\\.ts$' },
  to: { path: folders(LAYERS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'modules must not import each other in a circle',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'through-index',
      comment: 'another folder is imported only through its index.ts',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'tests-through-index',
      comment: 'tests and benchmarks outside src import folders only through their index.ts',
      severity: 'error',
      from: { path: '^(test|bench)/' },
      // test/console-contract.ts holds the console's own copy of the API shapes to the server's.
      to: { path: '^src/[^/]+/', pathNot: ['^src/[^/]+/index\\.ts$', '^src/console/types\\.ts$'] },
    },
    {
      name: 'console-apart',
      comment: 'the web console (browser code, built by vite) and the server share no code: it speaks to the admin API only',
      severity: 'error',
      from: { path: '^src/console/' },
      to: { path: '^src/', pathNot: '^src/console/' },
    },
    {
      name: 'nothing-imports-console',
      comment: 'the server serves the console as built files; no module imports its source',
      severity: 'error',
      from: { path: '^(src|test|bench)/', pathNot: '^(src/console/|test/console-contract\\.ts$)' },
      to: { path: '^src/console/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
