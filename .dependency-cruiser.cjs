// @ts-check
/**
 * The layer map of src/, enforced by `npm run lint` (depcruise). Arrows point down only: a folder may
 * import the folders of the layers below its own, never its own layer's siblings or anything above.
 * The CLI (entry src/cli/main.ts, started by bin/moat) and the daemon (entry src/daemon/main.ts, spawned
 * by daemon/client.ts) are the only processes; nothing below the CLI imports it.
 */
const LAYERS = [
  ['cli'], //                        one file per command: flags in, a service called, output out
  ['agents', 'doctor'], //           claude/, codex/: staging, flags, sessions; moat doctor's checks
  ['run'], //                        the run lifecycle, seen from the CLI
  ['daemon'], //                     the per-home host daemon: gateways, supervisor, records, spares
  ['container'], //                  a run's container as data: its plan, moat-init's environment, its sources' checks
  ['config', 'credentials'], //      moat.yaml and the global config; secrets, providers
  ['image'], //                      Dockerfiles, tags, builds (inside the gateway boundary)
  ['snapshot'], //                   workspace snapshots: content store, manifests, diff, restore
  ['audit', 'store', 'gateway', 'deps'], // signed log; runs/<id>/ on disk; the network boundary; dependency registry
  ['runtime', 'term', 'home'], //    the container engine; the terminal; ~/.moat
];
/** A path in one of the folders on the map. */
const KNOWN = `^src/(${LAYERS.flat().join('|')})/`;
// Below every folder: the single-file modules at the root of src/ (errors.ts, shell.ts, suggest.ts, timing.ts, version.ts).

/** @type {import('dependency-cruiser').IForbiddenRuleType[]} */
const layerRules = LAYERS.flatMap((layer, i) => {
  if (i === 0) return []; // the top layer may import everything below it
  const above = LAYERS.slice(0, i + 1).flat();
  return layer.map((folder) => {
    const forbidden = above.filter((f) => f !== folder);
    return {
      name: `layer-${folder}`,
      comment: `src/${folder}/ imports only the layers below it (${LAYERS.slice(i + 1).flat().join(', ') || 'none'}, and the root modules), never ${forbidden.join(', ')}: see the layer map in .dependency-cruiser.cjs.`,
      severity: /** @type {const} */ ('error'),
      from: { path: `^src/${folder}/` },
      to: { path: `^src/(${forbidden.join('|')})/` },
    };
  });
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'only-cli-imports-cli',
      comment: 'Nothing outside src/cli/ imports the CLI: its entry (src/cli/main.ts) is loaded by bin/moat only.',
      severity: 'error',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'unmapped-folder',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.cjs): add a new folder there.',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: KNOWN },
      to: { path: '^src/' },
    },
    {
      name: 'unmapped-folder-target',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.cjs): add a new folder there.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/[^/]+/', pathNot: KNOWN },
    },
    {
      name: 'root-modules-are-leaves',
      comment: 'The single-file modules at the root of src/ (errors.ts, shell.ts, …) sit below every folder: they import none of them.',
      severity: 'error',
      from: { path: '^src/[^/]+\\.ts$' },
      to: { path: '^src/[^/]+/' },
    },
    {
      name: 'no-circular',
      comment: 'Modules form no cycle (a cycle makes the load order, and so start-up, fragile).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-test',
      comment: 'Shipped code never imports the tests, their fakes or fixtures.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-dev-dep',
      comment: 'Shipped code imports only `dependencies` (a devDependency is missing from an installed moat).',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-undeclared-package',
      comment: 'Every package imported is declared in package.json (not reached through another one).',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-unresolvable',
      comment: 'Every import resolves to a file.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a layer that knows another's types depends on it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
