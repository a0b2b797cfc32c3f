/**
 * The fleet page's model packs: `GET /api/hub/models` every 5 s while the fleet is shown — each uploaded pack,
 * its assignment (all sites or a list; whether unassigning removes it from the boxes) and each concerned site's
 * state (pending, installed, failed with the reason, removed). Errors are left to the sites table above.
 */
import { ListTable } from "./list-table.js";
import { usePolledList } from "./use-polled.js";

interface Pack {
  name: string;
  version: string;
  size: number;
  license: string;
  signer: string;
  assignment: { sites: string[] | "all"; removeOnUnassign: boolean; state: string } | null;
  sites: { site: string; state: string; reason: string | null }[];
}

/** A pack's assignment as text. */
function assignmentText(p: Pack): string {
  const a = p.assignment;
  if (!a) return "not assigned";
  const to = a.sites === "all" ? "all sites" : a.sites.join(", ");
  const verb = a.state === "assigned" ? "assigned to" : "unassigned from";
  return `${verb} ${to}${a.removeOnUnassign ? " (removed from boxes when unassigned)" : ""}`;
}

/** Each site's state, a failure with its reason. */
const siteText = (p: Pack) =>
  p.sites.map((s) => `${s.site}: ${s.state}${s.reason ? ` (${s.reason})` : ""}`).join(", ") || "—";

export function Packs({ token }: { token: string | null }) {
  const packs = usePolledList<Pack>(token, "/api/hub/models", "packs");
  return (
    <ListTable
      id="packs"
      caption="Model packs and their sites"
      columns={["Model", "Version", "Licence", "Assignment", "Sites"]}
      empty="No model pack uploaded (PUT /api/hub/models/upload)."
      items={packs}
      row={(p) => (
        <tr key={`${p.name}@${p.version}`}>
          <td>{p.name}</td>
          <td>{p.version}</td>
          <td>{p.license}</td>
          <td>{assignmentText(p)}</td>
          <td>{siteText(p)}</td>
        </tr>
      )}
    />
  );
}
