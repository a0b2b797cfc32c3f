/**
 * App users: per-device credentials for ODK Collect and the box's web app. Creating one shows, once, the QR
 * code Collect scans (its server URL holds the token) and the web app's link with its own QR code; revoking
 * one stops its token at once.
 */
import { useEffect, useState } from "preact/hooks";
import { get, post } from "../api";
import { when } from "../format";
import { Action, Empty, Field, Form, Table, useOutcome } from "../ui";
import type { AppUser, CreatedAppUser } from "./forms-api";
import { collectQrText, QrCanvas } from "./forms-qr";

export function AppUsersTab() {
  const [users, setUsers] = useState<AppUser[]>([]);
  const [name, setName] = useState("");
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
        const r = await post<CreatedAppUser>("/api/forms/app-users", { name });
        setCreated({ ...r, qr: await collectQrText(r.collectSettings) });
        setName("");
      }, `App user ${name} created: its QR code and link are shown once.`)
      .then(load);
  const revoke = (u: AppUser) =>
    outcome
      .run(() => post(`/api/forms/app-users/${encodeURIComponent(u.id)}/revoke`), `${u.name} revoked.`)
      .then(load);

  const webLink = created ? `${location.origin}/collect/?token=${encodeURIComponent(created.token)}` : "";
  return (
    <>
      <Form label="New app user" submit="Create app user" onSubmit={create}>
        <Field label="Name (the device or person)" value={name} onInput={setName} required />
      </Form>
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
        <Table columns={["Name", "Created", "State", ""]} caption="App users">
          {users.map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>{when(u.createdAt)}</td>
              <td>{u.revokedAt ? `revoked ${when(u.revokedAt)}` : "active"}</td>
              <td>
                {!u.revokedAt && (
                  <Action kind="danger" label={`Revoke ${u.name}`} onClick={() => revoke(u)}>
                    Revoke
                  </Action>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
