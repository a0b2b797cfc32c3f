/** People: users, teams, roles, API keys and the audit log, each tab shown to those who may read it. */
import { can } from "../access";
import type { PageProps } from "../main";
import { Tabs } from "../ui";
import { AuditTab } from "./audit";
import { KeysTab, RolesTab, TeamsTab } from "./people-more";
import { UsersTab } from "./users";

const TABS = [
  { path: "/people/users", label: "Users", needs: "identity:users:read", view: UsersTab },
  { path: "/people/teams", label: "Teams", needs: "identity:teams:read", view: TeamsTab },
  { path: "/people/roles", label: "Roles", needs: "identity:roles:read", view: RolesTab },
  { path: "/people/keys", label: "API keys", needs: "identity:keys:read", view: KeysTab },
  { path: "/people/audit", label: "Audit log", needs: "identity:audit:read", view: AuditTab },
];

export function PeoplePage(props: PageProps) {
  const tabs = TABS.filter((t) => can(props.me.permissions, t.needs));
  const tab = TABS.find((t) => props.route === t.path) ?? tabs[0];
  if (!tab) return <h1>People</h1>;
  const View = tab.view;
  return (
    <section>
      <h1>People</h1>
      <Tabs
        label="People"
        active={tab.path}
        tabs={tabs.map((t) => ({ href: `#${t.path}`, label: t.label }))}
      />
      {can(props.me.permissions, tab.needs) ? (
        <View {...props} />
      ) : (
        <p role="alert">
          Not allowed: this tab needs <code>{tab.needs}</code>.
        </p>
      )}
    </section>
  );
}
