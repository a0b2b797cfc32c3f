/**
 * The fleet page's bundle rollouts: `GET /api/hub/bundles` every 5 s while the fleet is shown — each uploaded
 * version, its rollout state (active / halted / done, and why), the stage reached and its sites, and what the
 * boxes reported. Errors are left to the sites table above (same token, same hub).
 */
import { usePolledList } from "./use-polled.js";

interface Release {
  version: string;
  size: number;
  uploadedAt: string;
  rollout: { stages: string[][]; stage: number; state: string; reason: string | null } | null;
  reports: { site: string; outcome: string; reason: string | null }[];
}

/** One release's rollout as text: state, stage reached, its sites. */
function stageText(r: Release): string {
  const ro = r.rollout;
  if (!ro) return "uploaded, not approved";
  const sites = ro.stages[ro.stage] ?? [];
  return `stage ${ro.stage + 1} of ${ro.stages.length} (${sites.join(", ") || "no site"})`;
}

export function Rollouts({ token }: { token: string | null }) {
  const releases = usePolledList<Release>(token, "/api/hub/bundles", "releases");

  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
    <section class="scroll" tabIndex={0} aria-labelledby="rollouts-caption">
      <table>
        <caption id="rollouts-caption">Bundles and staged rollouts</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">State</th>
            <th scope="col">Stage</th>
            <th scope="col">Reports</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody id="rollouts">
          {releases.length === 0 ? (
            <tr>
              <td colSpan={5} class="muted">
                No bundle uploaded (PUT /api/hub/bundles/upload).
              </td>
            </tr>
          ) : (
            releases.map((r) => (
              <tr key={r.version}>
                <td>{r.version}</td>
                <td>{r.rollout?.state ?? "—"}</td>
                <td>{stageText(r)}</td>
                <td>{r.reports.map((x) => `${x.site}: ${x.outcome}`).join(", ") || "—"}</td>
                <td>{r.rollout?.reason ?? ""}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </section>
  );
}
