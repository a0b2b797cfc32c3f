/**
 * Nexus Collect, the box's offline data-entry app for phones and tablets on its LAN (`/collect/`): the forms
 * this user may fill (cached, so they open with no connection), one form at a time rendered by ODK Web
 * Forms, and the list of filled forms still waiting for the box. A service worker keeps the app itself.
 */
import { byId, el } from "./dom.js";
import { type FormView, mountForm } from "./form-view.js";
import { refreshForms } from "./forms-sync.js";
import { appToken, BoxRefused, setAppToken } from "./openrosa.js";
import { flush, onQueueChange } from "./outbox.js";
import { deleteDraft, getDraft, getForm, listDrafts, listForms, listQueue } from "./store.js";

let view: FormView | null = null;

function setStatus(text: string) {
  byId("status").textContent = text;
}

function showNet() {
  const online = navigator.onLine;
  const net = byId("net");
  net.textContent = online ? "Online" : "Offline";
  net.className = online ? "net on" : "net off";
}

async function renderForms() {
  const forms = (await listForms()).sort((a, b) => a.name.localeCompare(b.name));
  const drafts = new Map((await listDrafts()).map((d) => [d.formId, d]));
  const list = byId("forms");
  list.replaceChildren(
    ...forms.map((f) => {
      const d = drafts.get(f.formId);
      const note = d
        ? el("span", { class: "draft" }, ` draft saved ${new Date(d.savedAt).toLocaleTimeString()}`)
        : "";
      return el(
        "li",
        {},
        el("a", { href: `#/form/${encodeURIComponent(f.formId)}` }, f.name),
        ` v${f.version}`,
        note,
      );
    }),
  );
  byId("forms-empty").hidden = forms.length > 0;
}

async function renderQueue() {
  const queue = await listQueue();
  byId("queue-count").textContent = String(queue.length);
  byId("queue-empty").hidden = queue.length > 0;
  byId("queue").replaceChildren(
    ...queue.map((q) =>
      el(
        "li",
        { "data-instance": q.instanceID },
        el("strong", {}, q.formName),
        ` ${new Date(q.createdAt).toLocaleString()}`,
        q.lastError ? el("span", { class: "err" }, ` — ${q.lastError}`) : "",
      ),
    ),
  );
}

/** Fetches forms and sends the queue when the box answers; quiet when it does not. */
async function syncWithBox() {
  try {
    await refreshForms();
    setStatus("");
  } catch (err) {
    if (err instanceof BoxRefused && (err.status === 401 || err.status === 403)) {
      setStatus(
        appToken()
          ? "This device's app user was revoked: open a new link from the console, Forms → App users."
          : err.status === 403
            ? "Your account may not fill forms (it needs forms:read, and forms:submit to send them)."
            : "Sign in to the console on this device, or open an app-user link from Forms → App users.",
      );
    } else if (!(err instanceof BoxRefused)) {
      setStatus("The box cannot be reached: forms and filled forms wait on this device.");
    } else setStatus(`The box refused the form list: ${err.message}`);
  }
  await renderForms();
  await flush();
}

async function route() {
  view?.unmount();
  view = null;
  const m = /^#\/form\/(.+)$/.exec(location.hash);
  const form = m?.[1] ? await getForm(decodeURIComponent(m[1])) : undefined;
  byId("home").hidden = !!form;
  byId("form").hidden = !form;
  if (!form) return void (await Promise.all([renderForms(), renderQueue()]));
  byId("form-title").textContent = form.name;
  const draft = await getDraft(form.formId);
  const host = el("div");
  byId("odk").replaceChildren(host);
  byId("draft-state").textContent = draft
    ? `Draft from ${new Date(draft.savedAt).toLocaleString()} reopened.`
    : "";
  byId("discard").hidden = !draft;
  view = mountForm(host, form, draft, {
    onQueued: () => {
      setStatus(`Saved on this device: ${form.name}. It is sent when the box answers.`);
      byId("draft-state").textContent = "";
      byId("discard").hidden = true;
    },
    onDraftSaved: (d) => {
      byId("draft-state").textContent = `Draft saved ${new Date(d.savedAt).toLocaleTimeString()}.`;
      byId("discard").hidden = false;
    },
  });
}

function takeTokenFromUrl() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (!token) return;
  setAppToken(token);
  url.searchParams.delete("token");
  history.replaceState(null, "", url);
}

async function start() {
  takeTokenFromUrl();
  byId("signout").hidden = !appToken();
  byId("signout").addEventListener("click", () => {
    setAppToken(null);
    location.reload();
  });
  byId("send-now").addEventListener("click", () => void flush());
  byId("discard").addEventListener("click", async () => {
    const m = /^#\/form\/(.+)$/.exec(location.hash);
    if (m?.[1]) await deleteDraft(decodeURIComponent(m[1]));
    await route();
  });
  onQueueChange(() => void renderQueue());
  window.addEventListener("hashchange", () => void route());
  window.addEventListener("online", () => {
    showNet();
    void syncWithBox();
  });
  window.addEventListener("offline", showNet);
  showNet();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/collect/sw.js", { scope: "/collect/" }).catch(() => undefined);
  }
  await route();
  void syncWithBox();
  // A box that comes back while the phone stayed "online" (its Wi-Fi never dropped) is noticed here.
  window.setInterval(() => void flush(), 15_000);
}

void start();
