/** `nexus hub sites [--json]`: the fleet registry as a table, or as the hub API's JSON. */
import { duration, table } from "../lib/format.js";
import { hubAdmin } from "./hub.js";

/** One site as the hub's `GET /api/hub/sites` answers (the fields shown here). */
interface FleetSite {
  id: string;
  status: string;
  lastSeen: string | null;
  version: string | null;
  profile: string | null;
  received: number;
  lagMessages: number | null;
  lagSeconds: number | null;
}

/** Prints the running hub's sites; `json`: the API's answer `{ sites: [...] }`, one line. */
export async function hubSites(hubDir: string | undefined, json: boolean): Promise<void> {
  const answer = (await hubAdmin(hubDir, "GET", "/api/hub/sites")) as { sites: FleetSite[] };
  if (json) return console.log(JSON.stringify(answer));
  if (!answer.sites.length) return console.log("No site enrolled yet: nexus hub token <site>.");
  const lag = (s: FleetSite) =>
    s.lagMessages === null ? "-" : `${s.lagMessages} (${duration(Math.round(s.lagSeconds ?? 0))})`;
  console.log(
    table(
      ["SITE", "STATUS", "LAST SEEN", "VERSION", "PROFILE", "RECEIVED", "LAG"],
      answer.sites.map((s) => [
        s.id,
        s.status,
        s.lastSeen ?? "never",
        s.version ?? "-",
        s.profile ?? "-",
        String(s.received),
        lag(s),
      ]),
    ),
  );
}
