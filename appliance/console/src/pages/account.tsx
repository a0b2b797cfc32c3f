/** My account: password, MFA, my sessions, my API keys (the secret is shown once). */
import { useEffect, useState } from "preact/hooks";
import { del, get, post } from "../api";
import { when } from "../format";
import type { PageProps } from "../main";
import type { ApiKey, Session } from "../types";
import { Action, Field, Form, Notice, useOutcome } from "../ui";
import { ChangePassword } from "./login";

export function AccountPage({ me }: PageProps) {
  return (
    <section>
      <h1>My account</h1>
      <p class="lead">
        Signed in as <strong>{me.username}</strong> · roles {me.roles.join(", ") || "none"}
      </p>
      <h2>Password</h2>
      <ChangePassword onDone={async () => undefined} />
      <Mfa enabled={me.mfaEnabled} />
      <MySessions />
      <MyKeys permissions={me.permissions} />
    </section>
  );
}

function Mfa({ enabled: initially }: { enabled: boolean }) {
  const [enabled, setEnabled] = useState(initially);
  const [enrol, setEnrol] = useState<{ secret: string; otpauthUri: string } | null>(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const outcome = useOutcome();
  return (
    <>
      <h2>Two-factor authentication</h2>
      <p>Status: {enabled ? "on" : "off"}</p>
      {!enabled && !enrol && (
        <Action
          onClick={() =>
            outcome.run(async () =>
              setEnrol(await post<{ secret: string; otpauthUri: string }>("/api/identity/me/mfa/enroll")),
            )
          }
        >
          Turn on two-factor authentication
        </Action>
      )}
      {enrol && (
        <div class="panel">
          <p>
            Add this secret to your authenticator app (or open the link on a phone), then enter the code it
            shows.
          </p>
          <p>
            Secret: <code class="secret">{enrol.secret}</code>
          </p>
          <p class="small">
            <a href={enrol.otpauthUri}>Open in an authenticator app</a>
          </p>
          <Form
            label="Confirm two-factor authentication"
            submit="Confirm"
            onSubmit={() =>
              outcome.run(async () => {
                const r = await post<{ recoveryCodes: string[] }>("/api/identity/me/mfa/confirm", { code });
                setRecovery(r.recoveryCodes);
                setEnrol(null);
                setEnabled(true);
              }, "Two-factor authentication is on.")
            }
          >
            <Field
              label="6-digit code"
              value={code}
              onInput={setCode}
              inputMode="numeric"
              autocomplete="one-time-code"
              required
            />
          </Form>
        </div>
      )}
      {recovery && (
        <Notice tone="warning">
          Recovery codes, shown only now: keep them somewhere safe. Each works once instead of a code.
          <ul class="codes">
            {recovery.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </Notice>
      )}
      {enabled && !recovery && (
        <Form
          label="Turn off two-factor authentication"
          submit="Turn off"
          class="form inline"
          onSubmit={() =>
            outcome.run(async () => {
              await post("/api/identity/me/mfa/disable", { password });
              setEnabled(false);
            }, "Two-factor authentication is off.")
          }
        >
          <Field
            label="Password"
            type="password"
            value={password}
            onInput={setPassword}
            autocomplete="current-password"
            required
          />
        </Form>
      )}
      <div aria-live="polite">{outcome.view}</div>
    </>
  );
}

function MySessions() {
  const [sessions, setSessions] = useState<Session[]>([]);
  const outcome = useOutcome();
  const load = () =>
    outcome.run(async () =>
      setSessions((await get<{ sessions: Session[] }>("/api/identity/me/sessions")).sessions),
    );
  useEffect(() => {
    void load();
  }, []);
  return (
    <>
      <h2>My sessions</h2>
      <ul class="plain-list">
        {sessions.map((s) => (
          <li key={s.id}>
            {s.current ? <strong>This browser</strong> : s.userAgent.slice(0, 60)} — from {s.ip}, since{" "}
            {when(s.createdAt)}
            {!s.current && (
              <>
                {" "}
                <Action
                  onClick={() =>
                    outcome.run(() => del(`/api/identity/me/sessions/${s.id}`).then(load), "Session ended.")
                  }
                >
                  End
                </Action>
              </>
            )}
          </li>
        ))}
      </ul>
      <div aria-live="polite">{outcome.view}</div>
    </>
  );
}

function MyKeys({ permissions }: { permissions: string[] }) {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [name, setName] = useState("");
  const [perms, setPerms] = useState(permissions.includes("*") ? "system:read" : permissions.join(" "));
  const [secret, setSecret] = useState<string | null>(null);
  const outcome = useOutcome();
  const load = () =>
    outcome.run(async () => setKeys((await get<{ keys: ApiKey[] }>("/api/identity/me/api-keys")).keys));
  useEffect(() => {
    void load();
  }, []);
  const create = () =>
    outcome.run(async () => {
      const r = await post<{ secret: string }>("/api/identity/me/api-keys", {
        name,
        permissions: perms.split(/[\s,]+/).filter(Boolean),
      });
      setSecret(r.secret);
      setName("");
      await load();
    });
  return (
    <>
      <h2>My API keys</h2>
      <details class="panel">
        <summary>Create an API key</summary>
        <Form label="Create an API key" submit="Create key" onSubmit={create}>
          <Field label="Key name" value={name} onInput={setName} required name="key-name" />
          <Field
            label="Permissions"
            value={perms}
            onInput={setPerms}
            required
            name="key-permissions"
            hint="Separated by spaces; at most what you hold yourself."
          />
        </Form>
      </details>
      {secret && (
        <Notice tone="warning">
          The key's secret, shown only now: copy it into the machine that will use it.{" "}
          <code class="secret" data-testid="api-key-secret">
            {secret}
          </code>{" "}
          <button
            type="button"
            class="btn plain"
            onClick={() => navigator.clipboard?.writeText(secret).catch(() => undefined)}
          >
            Copy
          </button>{" "}
          <button type="button" class="btn plain" onClick={() => setSecret(null)}>
            I have copied it
          </button>
        </Notice>
      )}
      <ul class="plain-list">
        {keys.map((k) => (
          <li key={k.id} class={k.revokedAt ? "muted" : undefined}>
            <strong>{k.name}</strong> — <code>{k.permissions.join(" ")}</code>, created {when(k.createdAt)}
            {k.expiresAt ? `, expires ${when(k.expiresAt)}` : ""}
            {k.revokedAt ? `, revoked ${when(k.revokedAt)}` : " "}
            {!k.revokedAt && (
              <Action
                kind="danger"
                label={`Revoke ${k.name}`}
                onClick={() =>
                  outcome.run(
                    () => del(`/api/identity/me/api-keys/${k.id}`).then(load),
                    `Key ${k.name} revoked.`,
                  )
                }
              >
                Revoke
              </Action>
            )}
          </li>
        ))}
      </ul>
      <div aria-live="polite">{outcome.view}</div>
    </>
  );
}
