/**
 * A scrolling table of one list the fleet page polls (bundles, model packs): caption, column headers, a row
 * per item from `row`, or one muted line saying what to do when the list is empty.
 */
import type { ComponentChildren } from "preact";

export interface ListTableProps<T> {
  /** The table's name: `<id>-caption` labels the section, `<id>` is the body's id (the e2e tests read it). */
  id: string;
  caption: string;
  columns: string[];
  /** Shown alone when `items` is empty. */
  empty: string;
  items: T[];
  row: (item: T) => ComponentChildren;
}

export function ListTable<T>({ id, caption, columns, empty, items, row }: ListTableProps<T>) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
    <section class="scroll" tabIndex={0} aria-labelledby={`${id}-caption`}>
      <table>
        <caption id={`${id}-caption`}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody id={id}>
          {items.length === 0 ? (
            <tr>
              <td colSpan={columns.length} class="muted">
                {empty}
              </td>
            </tr>
          ) : (
            items.map(row)
          )}
        </tbody>
      </table>
    </section>
  );
}
