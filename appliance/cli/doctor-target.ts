/**
 * What `nexus doctor` looks at: the data dir, and the gateway address the box really uses. A box running on
 * the data dir says its own (it may have been started with --port or NEXUS_PORT this shell does not have);
 * otherwise the one `nexus up` would use: --port/--host, NEXUS_PORT/NEXUS_HOST, config.json, the default.
 */
import { loadApplianceConfig } from "../config/load.js";
import { readPid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import { fetchStatus } from "./running.js";

export interface DoctorTarget {
  dataDir: string;
  host: string;
  port: number;
  natsServer: string;
  /** The supervisor running on the data dir, and the gateway URL it answered (null: it did not answer). */
  running: { pid: number; gateway: string | null } | null;
}

/** Resolves the target from the flags, the environment, config.json and the running box. */
export async function doctorTarget(flags: { dataDir?: string; port?: number; host?: string }) {
  const config = loadApplianceConfig(flags);
  const dataDir = dataPaths(config.dataDir).root;
  const base = { dataDir, host: config.host, port: config.port, natsServer: config.natsServer };
  const pid = readPid(dataPaths(dataDir).supervisorPid);
  if (!pid) return { ...base, running: null } satisfies DoctorTarget;
  const status = await fetchStatus(dataDir);
  if (!status) return { ...base, running: { pid, gateway: null } } satisfies DoctorTarget;
  const url = new URL(status.gateway);
  return {
    ...base,
    host: url.hostname,
    port: Number(url.port),
    running: { pid, gateway: status.gateway },
  } satisfies DoctorTarget;
}
