/**
 * App users: per-device credentials for ODK Collect and the box's web app. Creating one shows, once, the QR
 * code Collect scans (its server URL holds the token) and the web app's link with its own QR code; revoking
 * one stops its token at once. Each may be given a list of forms (empty: every published form).
 */
import { useEffect, useState } from "preact/hooks";
import { api, get, post } from "../api";
import { when } from "../format";
import { Action, Empty, Field, Form, Table, useOutcome } from "../ui";
import { type AppUser, type CreatedAppUser, formIdsOf } from "./forms-api";
import { collectQrText, QrCanvas } from "./forms-qr";

export function AppUsersTab() {
  const [users, setUsers] = useState<AppUser[]>([]);
  const [name, setName] = useState("");
  const [forms, setForms] = useState("");
  const [editing, setEditing] = useState<AppUser | null>(null);
  const [editForms, setEditForms] = useState("");
  const [created, setCreated] = useState<(CreatedAppUser & { qr: string }) | null>(null);
  const outcome = useOutcome();
  const load = () =>
    outcome.run(async () => setUsers((await get<{ appUsers: AppUser[] }>("/api/forms/app-users")).appUsers));
  useEffect(() => {
    void load();
  }, []);

  const create = () =>
    outcome
      .run(async () => {
        const r = await post<CreatedAppUser>("/api/forms/app-users", { name, forms: formIdsOf(forms) });
        setCreated({ ...r, qr: await collectQrText(r.collectSettings) });
        setName("");
        setForms("");
      }, `App user ${name} created: its QR code and link are shown once.`)
      .then(load);
  const revoke = (u: AppUser) =>
    outcome
      .run(() => post(`/api/forms/app-users/${encodeURIComponent(u.id)}/revoke`), `${u.name} revoked.`)
      .then(load);

  const saveForms = (u: AppUser) =>
    outcome
      .run(
        () =>
          api("PUT", `/api/forms/app-users/${encodeURIComponent(u.id)}/forms`, {
            forms: formIdsOf(editForms),
          }),
        `Forms of ${u.name} saved: they apply to its next request.`,
      )
      .then(() => setEditing(null))
      .then(load);

  const webLink = created ? `${location.origin}/collect/?token=${encodeURIComponent(created.token)}` : "";
  return (
    <>
      <Form label="New app user" submit="Create app user" onSubmit={create}>
        <Field label="Name (the device or person)" value={name} onInput={setName} required />
        <Field
          label="Forms (form ids, comma-separated)"
          value={forms}
          onInput={setForms}
          hint="Empty: every published form."
        />
      </Form>
      {editing && (
        <Form label={`Forms of ${editing.name}`} submit="Save forms" onSubmit={() => saveForms(editing)}>
          <Field
            label="Forms (form ids, comma-separated)"
            value={editForms}
            onInput={setEditForms}
            hint="Empty: every published form."
          />
        </Form>
      )}
      {outcome.view}
      {created && (
        <div class="panel qr-panel">
          <h2>{created.appUser.name}</h2>
          <div class="qr-pair">
            <figure>
              <QrCanvas text={created.qr} label={`ODK Collect QR code for ${created.appUser.name}`} />
              <figcaption>ODK Collect: Settings → Project → Scan QR code</figcaption>
            </figure>
            <figure>
              <QrCanvas text={webLink} label={`Web app link for ${created.appUser.name}`} />
              <figcaption>
                Web app: <a href={webLink}>open on this device</a>
              </figcaption>
            </figure>
          </div>
          <p class="small">
            Server URL for Collect: <code class="secret">{created.serverUrl}</code>. Shown only now: it holds
            the token.
          </p>
        </div>
      )}
      {users.length === 0 ? (
        <Empty>No app users yet.</Empty>
      ) : (
        <Table columns={["Name", "Forms", "Created", "State", ""]} caption="App users">
          {users.map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>{u.forms ? u.forms.join(", ") || "none" : "all"}</td>
              <td>{when(u.createdAt)}</td>
              <td>{u.revokedAt ? `revoked ${when(u.revokedAt)}` : "active"}</td>
              <td>
                {!u.revokedAt && (
                  <>
                    <Action
                      label={`Set the forms of ${u.name}`}
                      onClick={() => {
                        setEditing(u);
                        setEditForms(u.forms?.join(", ") ?? "");
                      }}
                    >
                      Forms
                    </Action>{" "}
                    <Action kind="danger" label={`Revoke ${u.name}`} onClick={() => revoke(u)}>
                      Revoke
                    </Action>
                  </>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
