/**
 * A list the fleet page reads from the hub every 5 s while it is shown (bundles, model packs): `[]` until the
 * first answer; a failed read keeps the last list (the sites table says when the hub cannot be reached).
 */
import { useEffect, useState } from "preact/hooks";

const REFRESH_MS = 5000;

export function usePolledList<T>(token: string | null, path: string, key: string): T[] {
  const [items, setItems] = useState<T[]>([]);
  useEffect(() => {
    if (!token) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const res = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
        const body = (await res.json()) as Record<string, unknown>;
        const list = body[key];
        if (live && res.ok && Array.isArray(list)) setItems(list as T[]);
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
  }, [token, path, key]);
  return items;
}
