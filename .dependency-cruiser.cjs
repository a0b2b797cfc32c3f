/**
 * Import directions, checked by `npm run lint` (scripts/layers.ts). Layers, top to bottom:
 *
 *   cli        appliance/cli
 *   appliance  supervisor, gateway, hub, box, host, config, profiles, console, appliance/*.ts
 *   services   services/*
 *   sync       appliance/sync
 *   kit        appliance/kit
 *   lib        appliance/lib (generic helpers: imports nothing of the appliance)
 *
 * A layer imports its own and lower layers only; peers within the appliance layer may import each other.
 * Where a lower layer needs a higher one, it offers a plugin interface instead (the kit's runtime takes
 * sync as a ServicePlugin). Paths are relative to the folder cruised from (the repo root).
 */
const CODE = "^(appliance|services)/";

module.exports = {
  forbidden: [
    {
      name: "lib-imports-nothing-of-the-appliance",
      comment: "appliance/lib holds generic helpers; it imports node, npm packages and itself only.",
      severity: "error",
      from: { path: "^appliance/lib/" },
      to: { path: CODE, pathNot: "^appliance/lib/" },
    },
    {
      name: "kit-imports-only-lib",
      comment: "The service kit sits on lib alone; sync and the rest plug into it (kit/plugin.ts).",
      severity: "error",
      from: { path: "^appliance/kit/" },
      to: { path: CODE, pathNot: "^appliance/(kit|lib)/" },
    },
    {
      name: "sync-imports-only-kit-and-lib",
      comment: "Sync builds on the kit; it never reaches up into services or the appliance.",
      severity: "error",
      from: { path: "^appliance/sync/" },
      to: { path: CODE, pathNot: "^appliance/(sync|kit|lib)/" },
    },
    {
      name: "services-import-only-sync-kit-and-lib",
      comment:
        "A service is built on the kit (and sync's types and hub link); the supervisor, gateway, hub and " +
        "CLI run services, never the other way round.",
      severity: "error",
      from: { path: "^services/" },
      // appliance/box/resources.ts (generic host readings) belongs in lib; it moves once the disk-full
      // work on it has landed. Until then it is the one allowed exception.
      to: { path: "^appliance/", pathNot: "^appliance/(sync|kit|lib)/|^appliance/box/resources\\.ts$" },
    },
    {
      name: "supervisor-reads-service-manifests-only",
      comment:
        "The supervisor and the gateway read services' manifests (services/registry.ts); a service's code " +
        "loads in the service host (appliance/host) and in CLI commands that open a service offline.",
      severity: "error",
      from: { path: "^appliance/", pathNot: "^appliance/(host|cli)/" },
      to: { path: "^services/[^/]+/index\\.ts$" },
    },
    {
      name: "nothing-imports-the-cli",
      comment: "The CLI is the top layer: shared code it uses belongs in a lower layer (lib for formatting).",
      severity: "error",
      from: { path: CODE, pathNot: "^appliance/cli/" },
      to: { path: "^appliance/cli/" },
    },
    {
      name: "no-circular",
      comment:
        "Modules that import each other, directly or through others. The console's pages and its router " +
        "(appliance/console/src, a browser bundle with its own tsconfig) are left out for now.",
      severity: "error",
      from: { pathNot: "^appliance/console/src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/|\\.test\\.tsx?$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json"] },
  },
};
