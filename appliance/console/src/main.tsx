/**
 * The console's shell: who is signed in, role-aware navigation, hash routes (`#/services`), the banner when
 * the box cannot be reached. Pages the caller may not use are neither in the navigation nor reachable by URL
 * (they show "Not allowed"); the gateway refuses their API calls anyway.
 */
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { can } from "./access";
import {
  ApiError,
  get,
  hasSession,
  hasSessionEnded,
  isUnreachable,
  onConnectivity,
  post,
  setSessionEnded,
} from "./api";
import { resetLiveStatus } from "./live";
import { AccountPage } from "./pages/account";
import { BackupsPage } from "./pages/backups";
import { FilesPage } from "./pages/files";
import { FormsPage } from "./pages/forms";
import { ChangePassword, LoginPage } from "./pages/login";
import { ModelsPage } from "./pages/models";
import { OverviewPage } from "./pages/overview";
import { PeoplePage } from "./pages/people";
import { ServicesPage } from "./pages/services";
import { SetupPage } from "./pages/setup";
import { SyncPage } from "./pages/sync";
import type { Me, Status } from "./types";

export interface PageProps {
  me: Me;
  route: string;
  /** Services configured on the box, with whether each is up. */
  services: Record<string, boolean>;
}

interface PageDef {
  path: string;
  label: string;
  allowed: (me: Me, services: Record<string, boolean>) => boolean;
  /** What to tell someone who may not open it. */
  needs: string;
  view: (p: PageProps) => preact.JSX.Element;
}

const PAGES: PageDef[] = [
  {
    path: "/overview",
    label: "Overview",
    allowed: (me) => can(me.permissions, "appliance:read"),
    needs: "appliance:read",
    view: () => <OverviewPage />,
  },
  {
    path: "/services",
    label: "Services",
    allowed: (me) => can(me.permissions, "appliance:read"),
    needs: "appliance:read",
    view: (p) => <ServicesPage {...p} />,
  },
  {
    path: "/sync",
    label: "Sync",
    allowed: (me) => can(me.permissions, "appliance:read"),
    needs: "appliance:read",
    view: () => <SyncPage />,
  },
  {
    path: "/backups",
    label: "Backups",
    allowed: (me) => can(me.permissions, "appliance:read"),
    needs: "appliance:read",
    view: (p) => <BackupsPage {...p} />,
  },
  {
    path: "/people",
    label: "People",
    allowed: (me) => can(me.permissions, "identity:users:read"),
    needs: "identity:users:read",
    view: (p) => <PeoplePage {...p} />,
  },
  {
    path: "/files",
    label: "Files",
    allowed: (me, services) => can(me.permissions, "files:read") && "files" in services,
    needs: "files:read (and the files service)",
    view: (p) => <FilesPage {...p} />,
  },
  {
    path: "/forms",
    label: "Forms",
    allowed: (me, services) => can(me.permissions, "forms:read") && "forms" in services,
    needs: "forms:read (and the forms service)",
    view: (p) => <FormsPage {...p} />,
  },
  {
    path: "/models",
    label: "AI models",
    allowed: (me, services) => can(me.permissions, "ai:read") && "ai" in services,
    needs: "ai:read (and the ai service)",
    view: () => <ModelsPage />,
  },
  {
    path: "/account",
    label: "My account",
    allowed: () => true,
    needs: "",
    view: (p) => <AccountPage {...p} />,
  },
];

function currentRoute(): string {
  const h = location.hash.replace(/^#/, "");
  return h.startsWith("/") ? h : "/";
}

function useRoute(): string {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

function useConnectivity() {
  const [, force] = useState(0);
  useEffect(() => onConnectivity(() => force((n) => n + 1)), []);
  return { unreachable: isUnreachable(), sessionEnded: hasSessionEnded() };
}

/** Which services the box runs: from the status for operators, else from the open /ready. */
async function loadServices(me: Me): Promise<Record<string, boolean>> {
  if (can(me.permissions, "appliance:read")) {
    const s = await get<Status>("/api/appliance/status");
    return Object.fromEntries(s.services.map((x) => [x.name, x.state === "running"]));
  }
  const res = await fetch("/ready", { cache: "no-store" });
  const body = (await res.json()) as { services?: Record<string, string> };
  return Object.fromEntries(Object.entries(body.services ?? {}).map(([k, v]) => [k, v === "ready"]));
}

function App() {
  const route = useRoute();
  const conn = useConnectivity();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [services, setServices] = useState<Record<string, boolean>>({});
  const [bootError, setBootError] = useState<string | null>(null);
  const isSetup = location.pathname === "/setup";

  const signIn = async () => {
    const m = await get<Me>("/api/identity/me");
    setSessionEnded(false);
    setServices(await loadServices(m).catch(() => ({})));
    setMe(m);
  };

  useEffect(() => {
    if (isSetup) return;
    if (!hasSession()) return setMe(null);
    signIn().catch((err) => {
      if (err instanceof ApiError && err.status === 0) setBootError(err.message);
      setMe(null);
    });
  }, []);

  useEffect(() => {
    if (conn.sessionEnded && me) {
      resetLiveStatus();
      setMe(null);
    }
  }, [conn.sessionEnded]);

  const banner = conn.unreachable ? (
    <div class="banner" role="alert">
      <strong>The appliance cannot be reached.</strong> Check that the box is on and on the network; the
      console keeps retrying and recovers by itself.
    </div>
  ) : null;

  if (isSetup) {
    return (
      <>
        {banner}
        <SetupPage onDone={signIn} />
      </>
    );
  }
  if (me === undefined) return <p class="boot">Loading the console…</p>;
  if (me === null) {
    return (
      <>
        {banner}
        <LoginPage
          onLoggedIn={signIn}
          notice={conn.sessionEnded ? "Your session ended. Please log in again." : (bootError ?? undefined)}
        />
      </>
    );
  }
  if (me.mustChangePassword) {
    return (
      <>
        {banner}
        <ChangePassword forced onDone={signIn} />
      </>
    );
  }
  return <Shell me={me} route={route} services={services} banner={banner} onLogout={() => setMe(null)} />;
}

function Shell(props: {
  me: Me;
  route: string;
  services: Record<string, boolean>;
  banner: preact.JSX.Element | null;
  onLogout: () => void;
}) {
  const { me, route, services } = props;
  const allowed = PAGES.filter((p) => p.allowed(me, services));
  const page = PAGES.find((p) => route === p.path || route.startsWith(`${p.path}/`));
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);

  useEffect(() => {
    if (!page) location.replace(`#${allowed[0]?.path ?? "/account"}`);
    // Move focus to the new page for keyboard and screen reader users (not on first load).
    if (!first.current) mainRef.current?.focus();
    first.current = false;
  }, [page?.path]);

  const logout = async () => {
    await post("/api/identity/logout").catch(() => undefined);
    resetLiveStatus();
    props.onLogout();
  };

  return (
    <div class="shell">
      <button type="button" class="skip" onClick={() => mainRef.current?.focus()}>
        Skip to content
      </button>
      {props.banner}
      <header class="top">
        <span class="brand">Nexus Edge</span>
        <span class="who">
          {me.displayName || me.username} <span class="roles">({me.roles.join(", ") || "no role"})</span>
        </span>
        <button type="button" class="btn plain" onClick={logout}>
          Log out
        </button>
      </header>
      <nav class="side" aria-label="Main">
        <ul>
          {allowed.map((p) => (
            <li key={p.path}>
              <a href={`#${p.path}`} aria-current={page?.path === p.path ? "page" : undefined}>
                {p.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {page && !page.allowed(me, services) ? (
          <section class="forbidden" aria-labelledby="forbidden-title">
            <h1 id="forbidden-title">Not allowed</h1>
            <p role="alert">
              Your account may not open <strong>{page.label}</strong>: it needs the permission{" "}
              <code>{page.needs}</code>. Ask an administrator if you need it.
            </p>
            <p>
              <a href={`#${allowed[0]?.path ?? "/account"}`}>Go to {allowed[0]?.label ?? "My account"}</a>
            </p>
          </section>
        ) : (
          page?.view({ me, route, services })
        )}
      </main>
    </div>
  );
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
