/** `nexus version` and `nexus --version`: the appliance's, Node.js's and nats-server's versions. */
import { loadApplianceConfig } from "../config/load.js";
import { applianceVersion } from "../paths.js";
import { natsServerVersion } from "../supervisor/nats-server.js";

export interface Versions {
  nexusEdge: string;
  node: string;
  /** null when the configured nats-server is not found. */
  natsServer: string | null;
}

/** The versions, with nats-server as configured for the data dir (`natsServer`, NEXUS_NATS_SERVER). */
export async function versions(dataDir: string | undefined): Promise<Versions> {
  const config = loadApplianceConfig({ dataDir });
  return {
    nexusEdge: applianceVersion(),
    node: process.version,
    natsServer: await natsServerVersion(config.natsServer),
  };
}

/** Prints the versions as text, or as one JSON object. */
export async function printVersions(dataDir: string | undefined, json = false): Promise<void> {
  const v = await versions(dataDir);
  if (json) return console.log(JSON.stringify(v));
  console.log(`nexus-edge ${v.nexusEdge}\nnode ${v.node}\nnats-server ${v.natsServer ?? "not found"}`);
}
