// The web console (src/console) is browser code built apart from the server: it writes out the
// admin API's JSON shapes it reads (src/console/types.ts) instead of importing the server's code.
// This file holds the two together: it compiles (`tsc -p tsconfig.json` in `npm test`) only while
// each answer of the API still has every field the console reads, with the type it expects.
import type * as Console from '../src/console/types.js';
import type { Component } from '../src/logs/index.js';
import type { BoundaryView, ClientDetail, ClientView, DeploymentSummary } from '../src/mp/index.js';
import type { PackageView } from '../src/packages/index.js';
import type { RebuildView } from '../src/rebuild/index.js';
import type { AddressView, CloneResult, ListedJob, listDps } from '../src/replication/index.js';
import type { DeleteSummary, PurgeSummary, SitePhase, SiteSummary, SiteView } from '../src/sites/index.js';
import type { PackageStatus, StatusMessage } from '../src/status/index.js';

/** Compiles when what the server sends (`Sent`) is what the console reads (`Read`). */
type Fits<Read, Sent extends Read> = [Read, Sent];

/** Compiles when the two are the same set of values. */
type Same<A extends B, B extends C, C = A> = [A, B];

export type ConsoleContract = [
  Fits<Console.SiteView, SiteView & { phases: SitePhase[] }>,
  Fits<Console.Job, ListedJob>,
  Fits<Console.Address, AddressView>,
  Fits<Console.Dp, Awaited<ReturnType<typeof listDps>>[number]>,
  Fits<Console.Package, PackageView>,
  Fits<Console.PackageStatus, PackageStatus>,
  Fits<Console.StatusMessage, StatusMessage & { seq: number }>,
  Fits<Console.DeleteSummary, DeleteSummary>,
  Fits<Console.CloneResult, CloneResult>,
  Fits<Console.Rebuild, RebuildView>,
  Fits<Console.DeploymentSummary, DeploymentSummary>,
  Fits<Console.Boundary, BoundaryView>,
  Fits<Console.PurgeSummary, PurgeSummary>,
  Fits<Console.SiteSummary, SiteSummary>,
  Fits<Console.ClientView, ClientView>,
  Fits<Console.ClientDetail, ClientDetail>,
  Same<(typeof Console.COMPONENTS)[number], Component>,
];
