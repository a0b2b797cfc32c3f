/**
 * The fleet page's bundle rollouts: `GET /api/hub/bundles` every 5 s while the fleet is shown — each uploaded
 * version, its rollout state (active / halted / done, and why), the stage reached and its sites, and what the
 * boxes reported. Errors are left to the sites table above (same token, same hub).
 */
import { ListTable } from "./list-table.js";
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
    <ListTable
      id="rollouts"
      caption="Bundles and staged rollouts"
      columns={["Version", "State", "Stage", "Reports", "Reason"]}
      empty="No bundle uploaded (PUT /api/hub/bundles/upload)."
      items={releases}
      row={(r) => (
        <tr key={r.version}>
          <td>{r.version}</td>
          <td>{r.rollout?.state ?? "—"}</td>
          <td>{stageText(r)}</td>
          <td>{r.reports.map((x) => `${x.site}: ${x.outcome}`).join(", ") || "—"}</td>
          <td>{r.rollout?.reason ?? ""}</td>
        </tr>
      )}
    />
  );
}
