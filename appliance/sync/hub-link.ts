/**
 * The box's link to its hub: the site credentials `nexus enroll` stored in `<data>/secrets/hub.json` (0600).
 * Read by the supervisor (leafnode config), `nexus sync status`, and services that talk to the hub (files).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface HubLink {
  hubUrl: string;
  site: string;
  /** `nats-leaf://host:port` of the hub's leafnode listener. */
  leafnodeUrl: string;
  user: string;
  password: string;
  /** Speak TLS on the leafnode link (absent on links made before the hub had it: plain). */
  leafnodeTls?: boolean;
  /** PEM of the CA the hub's leafnode certificate must chain to (absent: the system's trust store). */
  leafnodeCa?: string;
  enrolledAt: string;
}

/** Where the link is stored under a data dir. */
export const hubLinkFile = (dataDir: string) => join(dataDir, "secrets", "hub.json");

/** The box's hub link, or null before enrolment. */
export function readHubLink(dataDir: string): HubLink | null {
  const file = hubLinkFile(dataDir);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")) as HubLink;
}
