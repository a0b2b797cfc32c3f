/** The backup engine's public surface (see docs/backup.md); the contracts are in types.ts. */
export * from "./types.js";
export { upgradeSnapshots } from "./upgrade-snapshot.js";
