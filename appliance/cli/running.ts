/** Finding the appliance running on a data dir, and asking it for its status (control socket). */
import { controlRequest } from "../control.js";
import { readPid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import type { ServiceStatus } from "../supervisor/supervisor.js";

/** What the control API's `GET /status` answers. */
export interface StatusReply {
  version: string;
  pid: number;
  /** The gateway's URL as the running box serves it, e.g. http://127.0.0.1:18282 */
  gateway: string;
  nats: { state: string; pid: number | null };
  services: ServiceStatus[];
}

/** The running appliance's status; null when none runs on `dataDir` or it does not answer. */
export async function fetchStatus(dataDir: string): Promise<StatusReply | null> {
  const paths = dataPaths(dataDir);
  if (!readPid(paths.supervisorPid)) return null;
  try {
    return await controlRequest<StatusReply>(paths.controlSocket, "GET", "/status");
  } catch {
    return null;
  }
}
