/** A page of tabs, each shown to those who hold the permission it needs (People, Forms). */
import type { ComponentType } from "preact";
import { can } from "../access";
import type { PageProps } from "../main";
import { Tabs } from "../ui";

export interface PageTab {
  path: string;
  label: string;
  needs: string;
  view: ComponentType<PageProps>;
}

/** The tab the route names (or the first one allowed), with a notice instead of it when not allowed. */
export function TabbedPage({ title, tabs: all, page }: { title: string; tabs: PageTab[]; page: PageProps }) {
  const tabs = all.filter((t) => can(page.me.permissions, t.needs));
  const tab = all.find((t) => page.route === t.path) ?? tabs[0];
  if (!tab) return <h1>{title}</h1>;
  const View = tab.view;
  return (
    <section>
      <h1>{title}</h1>
      <Tabs
        label={title}
        active={tab.path}
        tabs={tabs.map((t) => ({ href: `#${t.path}`, label: t.label }))}
      />
      {can(page.me.permissions, tab.needs) ? (
        <View {...page} />
      ) : (
        <p role="alert">
          Not allowed: this tab needs <code>{tab.needs}</code>.
        </p>
      )}
    </section>
  );
}
