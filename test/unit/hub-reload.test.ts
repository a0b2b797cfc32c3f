/**
 * The hub's NATS users reload: two enrolments at once must both end up in the server's users. The site list is
 * read in the reload's turn, so a reload queued later never writes a list older than one written before it.
 */
import { describe, expect, it } from "vitest";
import type { SiteUser } from "../../appliance/hub/nats.js";
import { siteUsersReloader } from "../../appliance/hub/nats.js";

const user = (site: string): SiteUser => ({ site, user: site, passwordHash: "$2a$10$x" });

/** A promise and its resolver, to order steps by hand rather than by time. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("siteUsersReloader", () => {
  it("a slow read of the site list cannot make an older list the last one reloaded", async () => {
    const written: string[][] = [];
    const nats = {
      async reload(sites: readonly SiteUser[]) {
        written.push(sites.map((s) => s.site));
      },
    };
    let sites = ["site-a"];
    const firstRead = deferred<void>();
    let reads = 0;
    const siteUsers = async () => {
      const snapshot = sites.map(user);
      if (++reads === 1) await firstRead.promise; // the first enrolment's read is slow
      return snapshot;
    };
    const reload = siteUsersReloader(nats, siteUsers);
    const first = reload(); // enrolment of site-a
    sites = ["site-a", "site-b"]; // site-b's enrolment commits meanwhile
    const second = reload();
    firstRead.resolve();
    await Promise.all([first, second]);
    expect(written.at(-1)).toEqual(["site-a", "site-b"]);
    expect(reads).toBe(2);
  });

  it("a failed reload does not stop the ones after it", async () => {
    const written: number[] = [];
    let n = 0;
    const nats = {
      async reload(sites: readonly SiteUser[]) {
        if (++n === 1) throw new Error("nats-server did not confirm");
        written.push(sites.length);
      },
    };
    const reload = siteUsersReloader(nats, async () => [user("a")]);
    await expect(reload()).rejects.toThrow("did not confirm");
    await reload();
    expect(written).toEqual([1]);
  });
});
