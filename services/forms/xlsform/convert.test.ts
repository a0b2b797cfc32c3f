/** XLSForm conversion as a scenario table: each bad sheet gives a cell-addressed error; good ones a valid XForm. */
import { describe, expect, it } from "vitest";
import { readXForm } from "../xform.js";
import { convertWorkbook } from "./convert.js";
import { XlsFormError } from "./errors.js";
import { sheet, type Workbook } from "./sheets.js";

const H = ["type", "name", "label", "relevant", "constraint", "calculation"];
const wb = (rows: string[][], choices: string[][] = [["yn", "yes", "Yes"]]): Workbook => ({
  survey: sheet("survey", H, rows),
  choices: sheet("choices", ["list_name", "name", "label"], choices),
  settings: sheet("settings", ["form_id", "version"], [["t", "1"]]),
});
const D = "$";

describe("XLSForm errors", () => {
  it.each([
    ["an unknown type", [["slect_one yn", "a", "A"]], 'survey!A2: unknown type "slect_one yn"'],
    [
      "a duplicate name",
      [
        ["text", "a", "A"],
        ["text", "a", "B"],
      ],
      'survey!B3: duplicate name "a"',
    ],
    ["a bad name", [["text", "1a", "A"]], 'survey!B2: "1a" is not a valid name'],
    [
      "an unended group",
      [
        ["begin group", "g", "G"],
        ["text", "a", "A"],
      ],
      'survey!A2: begin group "g" is never ended',
    ],
    [
      "a stray end",
      [["text", "a", "A"], ["end repeat"]],
      'survey!A3: "end repeat" without a matching begin repeat',
    ],
    [
      "an unknown list",
      [["select_one nope", "a", "A"]],
      'survey!A2: list "nope" is not in the choices sheet',
    ],
    [
      "an unknown reference",
      [["text", "a", "A", `${D}{b} = 1`]],
      `survey!D2: ${D}{b} names no question in the survey`,
    ],
    ["an unbalanced bracket", [["integer", "a", "A", "", ". > (1"]], 'survey!E2: unclosed "(" in expression'],
    ["an unclosed quote", [["text", "a", "A", "", ". = 'x"]], "survey!E2: unclosed quote"],
    [
      "an unknown function",
      [["text", "a", "A", "", "lenght(.) < 5"]],
      "survey!E2: unknown function lenght()",
    ],
    ["an unknown list with or_other", [["select_one nope or_other", "a", "A"]], 'survey!A2: list "nope"'],
    [
      "a calculate without calculation",
      [["calculate", "c", ""]],
      "survey!F2: a calculate needs a calculation",
    ],
  ])("reports %s at its cell", (_what, rows, message) => {
    try {
      convertWorkbook(wb(rows));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(XlsFormError);
      expect((err as XlsFormError).errors.join("\n")).toContain(message);
    }
  });
});

describe("XLSForm → XForm", () => {
  it("converts every core type to an XForm the service reads back", () => {
    const types = [
      "text",
      "integer",
      "decimal",
      "date",
      "time",
      "dateTime",
      "geopoint",
      "geotrace",
      "geoshape",
    ];
    const media = [
      "image",
      "audio",
      "video",
      "file",
      "barcode",
      "note",
      "acknowledge",
      "start",
      "end",
      "today",
      "deviceid",
    ];
    const rows = [...types, ...media].map((t, i) => [t, `q${i}`, `Q${i}`]);
    rows.push(["select_multiple yn", "sm", "SM"], ["select_one_from_file places.csv", "pl", "Place"]);
    rows.push(["image", "sig", "Sign"], ["calculate", "c", "", "", "", `${D}{q1} * 2`]);
    rows.push(["begin repeat", "r", "R"], ["text", "inner", "I", `${D}{q1} > 1`], ["end repeat"]);
    const { xml } = convertWorkbook(wb(rows));
    const def = readXForm(xml);
    const byName = new Map(def.fields.map((f) => [f.name, f]));
    expect(byName.get("q1")!.type).toBe("int");
    expect(byName.get("q9")!.type).toBe("binary");
    expect(byName.get("r")!.type).toBe("repeat");
    expect(byName.get("inner")!.conditional).toBe(true);
    expect(def.mediaFiles).toEqual(["places.csv"]);
    expect(xml).toContain('calculate="/data/q1 * 2"');
    expect(xml).toContain('jr:preloadParams="start"');
    expect(xml).toContain('<upload ref="/data/q9" mediatype="image/*">');
  });

  it("writes choice filters, defaults and the signature appearance", () => {
    const w: Workbook = {
      survey: sheet(
        "survey",
        ["type", "name", "label", "choice_filter", "default", "appearance"],
        [
          ["select_one region", "region", "Region"],
          ["select_one town", "town", "Town", `region=${D}{region}`],
          ["integer", "n", "N", "", "3"],
          ["image", "sig", "Sign", "", "", "signature"],
        ],
      ),
      choices: sheet(
        "choices",
        ["list_name", "name", "label", "region"],
        [
          ["region", "north", "North"],
          ["town", "a", "A", "north"],
        ],
      ),
      settings: sheet("settings", ["form_id", "version"], [["t", "1"]]),
    };
    const { xml } = convertWorkbook(w);
    expect(xml).toContain(`<itemset nodeset="instance('town')/root/item[region=/data/region]">`);
    expect(xml).toContain("<item><name>a</name><label>A</label><region>north</region></item>");
    expect(xml).toContain("<n>3</n>");
    expect(xml).toContain('<upload ref="/data/sig" appearance="signature" mediatype="image/*">');
  });

  it("writes itext translations for label::lang columns", () => {
    const w: Workbook = {
      survey: sheet(
        "survey",
        ["type", "name", "label::English (en)", "label::Français (fr)"],
        [["text", "a", "Name", "Nom"]],
      ),
      settings: sheet("settings", ["form_id", "version", "default_language"], [["t", "1", "Français (fr)"]]),
    };
    const { xml } = convertWorkbook(w);
    expect(xml).toContain('<translation lang="Français (fr)" default="true()">');
    expect(xml).toContain("<value>Nom</value>");
    expect(xml).toContain(`<label ref="jr:itext('/data/a:label')"/>`);
  });
});
