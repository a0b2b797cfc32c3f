/** Users: list and search, create, enable/disable, reset password, unlock, sessions, delete. */
import { useEffect, useState } from "preact/hooks";
import { can } from "../access";
import { del, get, patch, post } from "../api";
import { when } from "../format";
import type { PageProps } from "../main";
import type { Session, User } from "../types";
import { Action, Empty, Field, Form, Table, useOutcome } from "../ui";

export function UsersTab({ me }: PageProps) {
  const [users, setUsers] = useState<User[]>([]);
  const [roles, setRoles] = useState<string[]>([]);
  const [search, setSearch] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const outcome = useOutcome();
  const write = can(me.permissions, "identity:users:write");

  const load = () =>
    outcome.run(async () => {
      const q = search ? `?search=${encodeURIComponent(search)}` : "";
      setUsers((await get<{ users: User[] }>(`/api/identity/users${q}`)).users);
    });
  useEffect(() => {
    void load();
  }, [search]);
  useEffect(() => {
    if (can(me.permissions, "identity:roles:read"))
      get<{ roles: { name: string }[] }>("/api/identity/roles").then(
        (r) => setRoles(r.roles.map((x) => x.name)),
        () => undefined,
      );
  }, []);

  return (
    <div>
      {write && <CreateUser roles={roles} onCreated={load} />}
      <h2>Users</h2>
      <Field label="Search users" value={search} onInput={setSearch} name="user-search" />
      <div aria-live="polite">{outcome.view}</div>
      <Table columns={["Username", "Name", "Roles", "Status", "MFA", "Created", "Actions"]}>
        {users.map((u) => (
          <UserRow
            key={u.id}
            user={u}
            write={write}
            self={u.id === me.id}
            open={open === u.id}
            onToggle={() => setOpen(open === u.id ? null : u.id)}
            onChanged={load}
            run={outcome.run}
          />
        ))}
      </Table>
      {users.length === 0 && <Empty>No users match.</Empty>}
    </div>
  );
}

function CreateUser({ roles, onCreated }: { roles: string[]; onCreated: () => Promise<unknown> }) {
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [chosen, setChosen] = useState<string[]>(["viewer"]);
  const outcome = useOutcome();
  const submit = () =>
    outcome.run(
      async () => {
        const u = await post<User>("/api/identity/users", {
          username,
          password,
          roles: chosen,
          ...(displayName ? { displayName } : {}),
        });
        setUsername("");
        setDisplayName("");
        setPassword("");
        await onCreated();
        return u;
      },
      (u) => `User ${u.username} created.`,
    );
  return (
    <details class="panel">
      <summary>Create a user</summary>
      <Form onSubmit={submit} submit="Create user" label="Create a user">
        <Field
          label="Username"
          value={username}
          onInput={setUsername}
          required
          autocomplete="off"
          name="new-username"
        />
        <Field
          label="Display name (optional)"
          value={displayName}
          onInput={setDisplayName}
          name="new-displayname"
        />
        <Field
          label="Initial password"
          type="password"
          value={password}
          onInput={setPassword}
          autocomplete="new-password"
          minLength={10}
          hint="At least 10 characters; share it with the user safely."
          required
          name="new-password"
        />
        <fieldset>
          <legend>Roles</legend>
          {roles.map((r) => (
            <label key={r} class="check">
              <input
                type="checkbox"
                name="role"
                value={r}
                checked={chosen.includes(r)}
                onChange={(e) =>
                  setChosen(
                    (e.target as HTMLInputElement).checked ? [...chosen, r] : chosen.filter((x) => x !== r),
                  )
                }
              />{" "}
              {r}
            </label>
          ))}
        </fieldset>
      </Form>
      <div aria-live="polite">{outcome.view}</div>
    </details>
  );
}

function UserRow(props: {
  user: User;
  write: boolean;
  self: boolean;
  open: boolean;
  onToggle: () => void;
  onChanged: () => Promise<unknown>;
  run: ReturnType<typeof useOutcome>["run"];
}) {
  const { user: u, run } = props;
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const base = `/api/identity/users/${u.id}`;
  const locked = u.lockedUntil && Date.parse(u.lockedUntil) > Date.now();
  const showSessions = () =>
    run(async () => setSessions((await get<{ sessions: Session[] }>(`${base}/sessions`)).sessions));
  return (
    <>
      <tr data-user={u.username}>
        <th scope="row">{u.username}</th>
        <td>{u.displayName}</td>
        <td>{u.roles.join(", ") || "–"}</td>
        <td>
          {u.status}
          {locked ? " (locked)" : ""}
          {u.mustChangePassword ? " (must change password)" : ""}
        </td>
        <td>{u.mfaEnabled ? "on" : "off"}</td>
        <td>{when(u.createdAt)}</td>
        <td class="actions">
          <button type="button" class="btn plain" aria-expanded={props.open} onClick={props.onToggle}>
            {props.open ? "Less" : "More"}
            <span class="sr-only"> for {u.username}</span>
          </button>
        </td>
      </tr>
      {props.open && (
        <tr class="detail">
          <td colSpan={7}>
            <div class="actions">
              {props.write && !props.self && (
                <Action
                  onClick={() =>
                    run(
                      () =>
                        patch(base, { status: u.status === "active" ? "disabled" : "active" }).then(
                          props.onChanged,
                        ),
                      `${u.username} ${u.status === "active" ? "disabled" : "enabled"}.`,
                    )
                  }
                >
                  {u.status === "active" ? "Disable" : "Enable"}
                </Action>
              )}
              {props.write && !props.self && (
                <Action
                  onClick={() =>
                    run(
                      () => post<{ temporaryPassword?: string }>(`${base}/reset-password`, {}),
                      (r) =>
                        `Temporary password for ${u.username} (shown once): ${r.temporaryPassword ?? "(set)"}`,
                    )
                  }
                >
                  Reset password
                </Action>
              )}
              {props.write && locked && (
                <Action
                  onClick={() =>
                    run(() => post(`${base}/unlock`).then(props.onChanged), `${u.username} unlocked.`)
                  }
                >
                  Unlock
                </Action>
              )}
              <Action onClick={showSessions}>Show sessions</Action>
              {props.write && !props.self && (
                <Action
                  onClick={() =>
                    run(
                      () => del(`${base}/sessions`).then(showSessions),
                      `Every session of ${u.username} ended.`,
                    )
                  }
                >
                  End all sessions
                </Action>
              )}
              {props.write && !props.self && !confirmDelete && (
                <Action kind="danger" onClick={() => setConfirmDelete(true)}>
                  Delete…
                </Action>
              )}
              {confirmDelete && (
                <Action
                  kind="danger"
                  onClick={() => run(() => del(base).then(props.onChanged), `${u.username} deleted.`)}
                >
                  Confirm: delete {u.username}
                </Action>
              )}
            </div>
            {sessions && (
              <ul class="plain-list" aria-label={`Sessions of ${u.username}`}>
                {sessions.length === 0 && <li>No live session.</li>}
                {sessions.map((s) => (
                  <li key={s.id}>
                    since {when(s.createdAt)}, last seen {when(s.lastSeenAt)} from {s.ip} —{" "}
                    {s.userAgent.slice(0, 60)}
                  </li>
                ))}
              </ul>
            )}
          </td>
        </tr>
      )}
    </>
  );
}
