/**
 * Safe XML for forms and submissions: a DOCTYPE (and so any entity declaration: billion laughs, external
 * entities) is refused before parsing, depth and element count are capped, and the result is a plain ordered
 * tree. Only the five predefined entities and character references are expanded.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

/** One element: local name (namespace prefix dropped), attributes by local name, children in order, text. */
export interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

/** Input that is not acceptable XML; `message` is for the caller. */
export class XmlError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "XmlError";
  }
}

export interface XmlLimits {
  maxDepth: number;
  maxElements: number;
}

const DEFAULT_LIMITS: XmlLimits = { maxDepth: 64, maxElements: 200_000 };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: "#comment",
});

type Raw = Record<string, unknown>;

/** Parses `xml` into its root element; throws XmlError on a DOCTYPE, bad XML or limits exceeded. */
export function parseXml(xml: string, limits: Partial<XmlLimits> = {}): XmlNode {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) {
    throw new XmlError("XML with a DOCTYPE or entity declarations is refused");
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new XmlError(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  }
  let count = 0;
  const convert = (raw: Raw, depth: number): XmlNode | null => {
    const name = Object.keys(raw).find((k) => k !== ":@");
    if (!name || name === "#comment") return null;
    if (name === "#text") return { name: "#text", attrs: {}, children: [], text: String(raw[name]) };
    if (depth > lim.maxDepth) throw new XmlError(`XML nested deeper than ${lim.maxDepth} levels`);
    if (++count > lim.maxElements) throw new XmlError(`XML with more than ${lim.maxElements} elements`);
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries((raw[":@"] as Raw | undefined) ?? {})) attrs[k] = String(v);
    const node: XmlNode = { name, attrs, children: [], text: "" };
    for (const c of (raw[name] as Raw[]) ?? []) {
      const child = convert(c, depth + 1);
      if (!child) continue;
      if (child.name === "#text") node.text += child.text;
      else node.children.push(child);
    }
    return node;
  };
  const top = (parser.parse(xml) as Raw[]).map((r) => convert(r, 0)).filter((n) => n && n.name !== "#text");
  if (top.length !== 1) throw new XmlError("XML must have exactly one root element");
  return top[0]!;
}

/** The first child element named `name`. */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name);
}

/** Escapes text for an XML element or a double-quoted attribute. */
export function esc(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}
