/**
 * The real ODK engine (@getodk/xforms-engine, the engine of ODK Web Forms) headless in Node: jsdom supplies the
 * DOM it parses XForms with. The engine's bundled tree-sitter loader reads `__dirname` in ESM scope, so it is
 * set to the engine's folder before the engine is imported.
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { JSDOM } from "jsdom";

const GLOBALS = [
  "DOMParser",
  "XMLSerializer",
  "Node",
  "Document",
  "XMLDocument",
  "Element",
  "Attr",
  "Text",
  "CharacterData",
  "ProcessingInstruction",
  "Comment",
  "NodeFilter",
  "DocumentFragment",
  "XPathResult",
  "document",
  "HTMLElement",
];
const ENGINE = import.meta.resolve("@getodk/xforms-engine");

/** Loads the engine once, with the globals it needs. */
export async function odkEngine() {
  const dom = new JSDOM("<!doctype html><html><body></body></html>");
  const g = globalThis as Record<string, unknown>;
  for (const k of GLOBALS) if (!(k in g)) g[k] = (dom.window as unknown as Record<string, unknown>)[k];
  g.__dirname ??= dirname(fileURLToPath(ENGINE));
  return import("@getodk/xforms-engine");
}

// biome-ignore lint/suspicious/noExplicitAny: the engine's node tree is walked generically in tests
export type EngineNode = any;

/** Every node of a form instance, depth first. */
export function nodesOf(root: EngineNode): EngineNode[] {
  const out: EngineNode[] = [];
  const walk = (n: EngineNode) => {
    out.push(n);
    for (const c of n.currentState.children ?? []) walk(c);
  };
  walk(root);
  return out;
}
