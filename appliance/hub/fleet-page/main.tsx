/**
 * The hub's fleet page: asks for the hub admin token (kept in this tab's sessionStorage only), then shows
 * `GET /api/hub/sites` as a table refreshed every 5 s. A 401 forgets the token and asks again; a network
 * error keeps the last table and retries. One poll loop at a time: a new token or "Forget" ends the old one.
 */
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Packs } from "./packs.js";
import { Rollouts } from "./rollouts.js";
import { type Site, SiteRows } from "./site-rows.js";

const KEY = "nexus-hub-admin-token";
const REFRESH_MS = 5000;

interface Message {
  text: string;
  error: boolean;
}
type Answer = { kind: "sites"; sites: Site[] } | { kind: "unauthorized" } | { kind: "error"; text: string };

/** One request for the sites; null on a network error. */
async function fetchSites(token: string): Promise<Answer | null> {
  let res: Response;
  try {
    res = await fetch("/api/hub/sites", { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch {
    return null;
  }
  const body = (await res.json().catch(() => null)) as { sites?: unknown; message?: string } | null;
  if (res.status === 401) return { kind: "unauthorized" };
  if (!res.ok || !body || !Array.isArray(body.sites)) {
    return {
      kind: "error",
      text: `The hub answered ${res.status}: ${body?.message || "error"}. Retrying every 5 s.`,
    };
  }
  return { kind: "sites", sites: body.sites as Site[] };
}

function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(KEY));
  // Bumped by each submit: the same token entered again still restarts the loop.
  const [run, setRun] = useState(0);
  const [showFleet, setShowFleet] = useState(false);
  const [draft, setDraft] = useState("");
  const [msg, setMsg] = useState<Message>({ text: "", error: false });
  const [sites, setSites] = useState<Site[]>([]);
  const [updated, setUpdated] = useState("Not loaded yet");
  const focusNext = useRef<"token" | "caption" | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const caption = useRef<HTMLTableCaptionElement>(null);

  const say = (text: string, error = false) => setMsg({ text, error });
  const showLogin = (focus: boolean) => {
    setToken(null);
    setShowFleet(false);
    setDraft("");
    if (focus) focusNext.current = "token";
  };

  useEffect(() => {
    const target = focusNext.current === "token" ? input.current : caption.current;
    if (focusNext.current && target) target.focus();
    focusNext.current = null;
  });

  useEffect(() => {
    if (!token) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      const answer = await fetchSites(token);
      if (!live) return;
      if (answer?.kind === "unauthorized") {
        sessionStorage.removeItem(KEY);
        showLogin(true);
        say(
          "The hub refused this token (401): enter the hub admin token from <hub dir>/secrets/hub-admin.token.",
          true,
        );
        return;
      }
      if (!answer) {
        say(
          "The hub cannot be reached (network error). Retrying every 5 s; the table shows the last answer.",
          true,
        );
      } else if (answer.kind === "error") {
        say(answer.text, true);
      } else {
        setSites(answer.sites);
        setUpdated(`Updated ${new Date().toLocaleTimeString("en-GB")} — ${answer.sites.length} site(s)`);
        say("");
        setShowFleet((shown) => {
          if (!shown) focusNext.current = "caption";
          return true;
        });
      }
      timer = setTimeout(load, REFRESH_MS);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [token, run]);

  const submit = (e: Event) => {
    e.preventDefault();
    const given = draft.trim();
    if (!given) return;
    sessionStorage.setItem(KEY, given);
    say("Loading…");
    setToken(given);
    setRun((n) => n + 1);
  };
  const forget = () => {
    sessionStorage.removeItem(KEY);
    showLogin(true);
    say("Token forgotten.");
  };

  return (
    <>
      <form id="login" hidden={showFleet} onSubmit={submit}>
        <label for="token">Hub admin token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          aria-describedby="token-help"
          ref={input}
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <p id="token-help" class="muted">
          In <code>&lt;hub dir&gt;/secrets/hub-admin.token</code>. Kept in this tab only (sessionStorage).
        </p>
        <button type="submit">Show the fleet</button>
      </form>
      <div id="msg" role="status" aria-live="polite" class={msg.error ? "error" : ""}>
        {msg.text}
      </div>
      <section id="fleet" hidden={!showFleet} aria-labelledby="caption">
        <div class="bar">
          <p id="updated" class="muted">
            {updated}
          </p>
          <button id="forget" type="button" class="secondary" onClick={forget}>
            Forget the token
          </button>
        </div>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard */}
        <section class="scroll" tabIndex={0} aria-labelledby="caption">
          <table>
            <caption id="caption" tabIndex={-1} ref={caption}>
              Sites enrolled with this hub (refreshed every 5 s)
            </caption>
            <thead>
              <tr>
                <th scope="col">Site</th>
                <th scope="col">Status</th>
                <th scope="col">Last seen</th>
                <th scope="col">Version</th>
                <th scope="col">Profile</th>
                <th scope="col" class="num">
                  Changes received
                </th>
                <th scope="col" class="num">
                  Lag (messages)
                </th>
                <th scope="col" class="num">
                  Lag (seconds)
                </th>
                <th scope="col" class="num">
                  Clock ahead
                </th>
                <th scope="col">Watermarks per service</th>
              </tr>
            </thead>
            <tbody id="rows">
              <SiteRows sites={sites} />
            </tbody>
          </table>
        </section>
        {showFleet && <Rollouts token={token} />}
        {showFleet && <Packs token={token} />}
      </section>
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
