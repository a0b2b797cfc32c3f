/**
 * The fleet page's model packs: `GET /api/hub/models` every 5 s while the fleet is shown — each uploaded pack,
 * its assignment (all sites or a list; whether unassigning removes it from the boxes) and each concerned site's
 * state (pending, installed, failed with the reason, removed). Errors are left to the sites table above.
 */
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
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
    <section class="scroll" tabIndex={0} aria-labelledby="packs-caption">
      <table>
        <caption id="packs-caption">Model packs and their sites</caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Version</th>
            <th scope="col">Licence</th>
            <th scope="col">Assignment</th>
            <th scope="col">Sites</th>
          </tr>
        </thead>
        <tbody id="packs">
          {packs.length === 0 ? (
            <tr>
              <td colSpan={5} class="muted">
                No model pack uploaded (PUT /api/hub/models/upload).
              </td>
            </tr>
          ) : (
            packs.map((p) => (
              <tr key={`${p.name}@${p.version}`}>
                <td>{p.name}</td>
                <td>{p.version}</td>
                <td>{p.license}</td>
                <td>{assignmentText(p)}</td>
                <td>{siteText(p)}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </section>
  );
}
