/** How the fleet page writes times and numbers: plain functions of the API's values, no DOM. */

/** "12 s ago", "3 min ago", "5 h ago", "2 d ago"; "never" for no time. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A count with thousands separators; "—" when the hub has none. */
export const count = (n: number | null | undefined): string =>
  n === null || n === undefined ? "—" : Number(n).toLocaleString("en");

/** Seconds, one decimal under 10; "—" when the hub has none. */
export const seconds = (n: number | null | undefined): string =>
  n === null || n === undefined ? "—" : `${n < 10 ? Number(n).toFixed(1) : Math.round(n)} s`;
