/** People: users, teams, roles, API keys and the audit log, each tab shown to those who may read it. */
import type { PageProps } from "../main";
import { AuditTab } from "./audit";
import { KeysTab, RolesTab, TeamsTab } from "./people-more";
import { type PageTab, TabbedPage } from "./tabbed";
import { UsersTab } from "./users";

const TABS: PageTab[] = [
  { path: "/people/users", label: "Users", needs: "identity:users:read", view: UsersTab },
  { path: "/people/teams", label: "Teams", needs: "identity:teams:read", view: TeamsTab },
  { path: "/people/roles", label: "Roles", needs: "identity:roles:read", view: RolesTab },
  { path: "/people/keys", label: "API keys", needs: "identity:keys:read", view: KeysTab },
  { path: "/people/audit", label: "Audit log", needs: "identity:audit:read", view: AuditTab },
];

export function PeoplePage(props: PageProps) {
  return <TabbedPage title="People" tabs={TABS} page={props} />;
}
