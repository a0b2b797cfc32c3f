/** Teams, roles and every API key on the box. */
import { useEffect, useState } from "preact/hooks";
import { can } from "../access";
import { del, get, post } from "../api";
import { when } from "../format";
import type { PageProps } from "../main";
import type { ApiKey, User } from "../types";
import { Action, Empty, Field, Form, Select, Table, useOutcome } from "../ui";

interface Team {
  id: string;
  name: string;
  members: { id: string; username: string }[];
}

export function TeamsTab({ me }: PageProps) {
  const [teams, setTeams] = useState<Team[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [name, setName] = useState("");
  const outcome = useOutcome();
  const write = can(me.permissions, "identity:teams:write");
  const load = () =>
    outcome.run(async () => setTeams((await get<{ teams: Team[] }>("/api/identity/teams")).teams));
  useEffect(() => {
    void load();
    get<{ users: User[] }>("/api/identity/users?limit=500").then(
      (r) => setUsers(r.users),
      () => undefined,
    );
  }, []);
  return (
    <div>
      {write && (
        <Form
          label="Create a team"
          submit="Create team"
          class="form inline"
          onSubmit={() =>
            outcome.run(() => post("/api/identity/teams", { name }).then(load), `Team ${name} created.`)
          }
        >
          <Field label="New team name" value={name} onInput={setName} required name="team-name" />
        </Form>
      )}
      <div aria-live="polite">{outcome.view}</div>
      {teams.length === 0 && <Empty>No teams yet.</Empty>}
      {teams.map((t) => (
        <article class="card wide" key={t.id}>
          <h3>{t.name}</h3>
          <ul class="plain-list" aria-label={`Members of ${t.name}`}>
            {t.members.length === 0 && <li>No members.</li>}
            {t.members.map((m) => (
              <li key={m.id}>
                {m.username}{" "}
                {write && (
                  <Action
                    label={`Remove ${m.username} from ${t.name}`}
                    onClick={() =>
                      outcome.run(() => del(`/api/identity/teams/${t.id}/members/${m.id}`).then(load))
                    }
                  >
                    Remove
                  </Action>
                )}
              </li>
            ))}
          </ul>
          {write && <AddMember team={t} users={users} onAdded={load} run={outcome.run} />}
          {write && (
            <Action
              kind="danger"
              onClick={() =>
                outcome.run(() => del(`/api/identity/teams/${t.id}`).then(load), `Team ${t.name} deleted.`)
              }
            >
              Delete team {t.name}
            </Action>
          )}
        </article>
      ))}
    </div>
  );
}

function AddMember(props: {
  team: Team;
  users: User[];
  onAdded: () => Promise<unknown>;
  run: ReturnType<typeof useOutcome>["run"];
}) {
  const options = props.users.filter((u) => !props.team.members.some((m) => m.id === u.id));
  const [userId, setUserId] = useState("");
  if (options.length === 0) return null;
  const chosen = userId || options[0]!.id;
  return (
    <Form
      label={`Add a member to ${props.team.name}`}
      submit="Add member"
      class="form inline"
      onSubmit={() =>
        props.run(() =>
          post(`/api/identity/teams/${props.team.id}/members`, { userId: chosen }).then(props.onAdded),
        )
      }
    >
      <Select
        label={`User to add to ${props.team.name}`}
        value={chosen}
        onChange={setUserId}
        options={options.map((u) => ({ value: u.id, label: u.username }))}
      />
    </Form>
  );
}

interface Role {
  name: string;
  description: string;
  builtin: boolean;
  permissions: string[];
}

export function RolesTab({ me }: PageProps) {
  const [roles, setRoles] = useState<Role[]>([]);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [perms, setPerms] = useState("");
  const outcome = useOutcome();
  const write = can(me.permissions, "identity:roles:write");
  const load = () =>
    outcome.run(async () => setRoles((await get<{ roles: Role[] }>("/api/identity/roles")).roles));
  useEffect(() => {
    void load();
  }, []);
  const create = () =>
    outcome.run(
      () =>
        post("/api/identity/roles", {
          name,
          description,
          permissions: perms.split(/[\s,]+/).filter(Boolean),
        }).then(load),
      `Role ${name} created.`,
    );
  return (
    <div>
      <Table columns={["Role", "Description", "Permissions", ...(write ? ["Actions"] : [])]}>
        {roles.map((r) => (
          <tr key={r.name}>
            <th scope="row">
              {r.name} {r.builtin && <span class="badge mid">built-in</span>}
            </th>
            <td>{r.description}</td>
            <td>
              <code>{r.permissions.join(" ")}</code>
            </td>
            {write && (
              <td>
                {!r.builtin && (
                  <Action
                    kind="danger"
                    label={`Delete role ${r.name}`}
                    onClick={() =>
                      outcome.run(
                        () => del(`/api/identity/roles/${r.name}`).then(load),
                        `Role ${r.name} deleted.`,
                      )
                    }
                  >
                    Delete
                  </Action>
                )}
              </td>
            )}
          </tr>
        ))}
      </Table>
      <div aria-live="polite">{outcome.view}</div>
      {write && (
        <details class="panel">
          <summary>Create a custom role</summary>
          <Form label="Create a custom role" submit="Create role" onSubmit={create}>
            <Field
              label="Name"
              value={name}
              onInput={setName}
              required
              hint="lower-case letters, digits and '-'"
            />
            <Field label="Description" value={description} onInput={setDescription} />
            <Field
              label="Permissions"
              value={perms}
              onInput={setPerms}
              required
              hint="Separated by spaces, e.g. system:read files:read. You can only grant what you hold."
            />
          </Form>
        </details>
      )}
    </div>
  );
}

export function KeysTab({ me }: PageProps) {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const outcome = useOutcome();
  const write = can(me.permissions, "identity:keys:write");
  const load = () =>
    outcome.run(async () => setKeys((await get<{ keys: ApiKey[] }>("/api/identity/api-keys")).keys));
  useEffect(() => {
    void load();
  }, []);
  return (
    <div>
      <p class="lead">
        Every API key on the box. Create your own on <a href="#/account">My account</a>; a key's secret is
        shown only once.
      </p>
      <div aria-live="polite">{outcome.view}</div>
      {keys.length === 0 ? (
        <Empty>No API keys.</Empty>
      ) : (
        <Table
          columns={[
            "Name",
            "Owner",
            "Permissions",
            "Created",
            "Expires",
            "Last used",
            ...(write ? ["Actions"] : []),
          ]}
        >
          {keys.map((k) => (
            <tr key={k.id}>
              <th scope="row">{k.name}</th>
              <td>{k.userId}</td>
              <td>
                <code>{k.permissions.join(" ")}</code>
              </td>
              <td>{when(k.createdAt)}</td>
              <td>{k.revokedAt ? `revoked ${when(k.revokedAt)}` : when(k.expiresAt)}</td>
              <td>{when(k.lastUsedAt)}</td>
              {write && (
                <td>
                  {!k.revokedAt && (
                    <Action
                      kind="danger"
                      label={`Revoke key ${k.name}`}
                      onClick={() =>
                        outcome.run(
                          () => del(`/api/identity/api-keys/${k.id}`).then(load),
                          `Key ${k.name} revoked.`,
                        )
                      }
                    >
                      Revoke
                    </Action>
                  )}
                </td>
              )}
            </tr>
          ))}
        </Table>
      )}
    </div>
  );
}
