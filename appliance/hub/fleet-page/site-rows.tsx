/** The table body: one row per site, every API value rendered as text (Preact escapes it), never as HTML. */
import { ago, count, seconds } from "./format.js";

export interface Watermark {
  service: string;
  seq: number;
  hlc: string;
  at: string;
}

/** One entry of `GET /api/hub/sites`, as far as the page reads it. */
export interface Site {
  id: string;
  name?: string | null;
  status: string;
  lastSeen?: string | null;
  version?: string | null;
  profile?: string | null;
  received?: number | null;
  lagMessages?: number | null;
  lagSeconds?: number | null;
  clockAheadSeconds?: number | null;
  watermarks?: Watermark[] | null;
}

const num = (warn: boolean) => (warn ? "num warn" : "num");

function Watermarks({ list }: { list: Watermark[] | null | undefined }) {
  if (!list || list.length === 0) return <td>none yet</td>;
  return (
    <td>
      <ul class="wm">
        {list.map((w) => (
          <li key={w.service} title={`HLC ${w.hlc}`}>
            {`${w.service}: #${w.seq} (${ago(w.at)})`}
          </li>
        ))}
      </ul>
    </td>
  );
}

function SiteRow({ s }: { s: Site }) {
  return (
    <tr data-site={s.id}>
      <th scope="row">{s.name && s.name !== s.id ? `${s.name} (${s.id})` : s.id}</th>
      <td>
        <span class={`status status-${s.status === "active" ? "active" : "revoked"}`}>{s.status}</span>
      </td>
      <td title={s.lastSeen || ""}>{ago(s.lastSeen)}</td>
      <td>{s.version || "—"}</td>
      <td>{s.profile || "—"}</td>
      <td class="num">{count(s.received)}</td>
      <td class={num((s.lagMessages ?? 0) > 0)}>{count(s.lagMessages)}</td>
      <td class={num((s.lagSeconds ?? 0) > 60)}>{seconds(s.lagSeconds)}</td>
      <td class={num((s.clockAheadSeconds ?? 0) > 0)}>{seconds(s.clockAheadSeconds)}</td>
      <Watermarks list={s.watermarks} />
    </tr>
  );
}

/** The rows for `sites`, or one row saying how to enrol the first site. */
export function SiteRows({ sites }: { sites: Site[] }) {
  if (sites.length === 0) {
    return (
      <tr>
        <td colSpan={10}>No site enrolled yet: create a token with “nexus hub token &lt;site&gt;”.</td>
      </tr>
    );
  }
  return (
    <>
      {sites.map((s) => (
        <SiteRow key={s.id} s={s} />
      ))}
    </>
  );
}
