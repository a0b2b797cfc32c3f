/**
 * The fleet page's model packs: `GET /api/hub/models` every 5 s while the fleet is shown — each uploaded pack,
 * its assignment (all sites or a list; whether unassigning removes it from the boxes) and each concerned site's
 * state (pending, installed, failed with the reason, removed). Errors are left to the sites table above.
 */
import { useEffect, useState } from "preact/hooks";

interface Pack {
  name: string;
  version: string;
  size: number;
  license: string;
  signer: string;
  assignment: { sites: string[] | "all"; removeOnUnassign: boolean; state: string } | null;
  sites: { site: string; state: string; reason: string | null }[];
}

const REFRESH_MS = 5000;

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
  const [packs, setPacks] = useState<Pack[]>([]);
  useEffect(() => {
    if (!token) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const res = await fetch("/api/hub/models", {
          headers: { authorization: `Bearer ${token}` },
          cache: "no-store",
        });
        const body = (await res.json()) as { packs?: Pack[] };
        if (live && res.ok && Array.isArray(body.packs)) setPacks(body.packs);
      } catch {
        // the sites table says when the hub cannot be reached
      }
      if (live) timer = setTimeout(load, REFRESH_MS);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [token]);

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
