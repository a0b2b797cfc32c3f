/**
 * The XLSForm columns beyond the core: or_other, range, rank, repeat_count, media::image|audio|video, translated
 * constraint/required messages; bad cells give cell-addressed errors; the result loads in the real ODK engine.
 */
import { describe, expect, it } from "vitest";
import { odkEngine } from "../../../test/helpers/odk-engine.js";
import { readXForm } from "../xform.js";
import { convertWorkbook } from "./convert.js";
import { XlsFormError } from "./errors.js";
import { sheet, type Workbook } from "./sheets.js";

const D = "$";
const H = [
  "type",
  "name",
  "label",
  "parameters",
  "repeat_count",
  "media::image",
  "media::audio::French (fr)",
  "constraint",
  "constraint_message",
  "constraint_message::French (fr)",
  "required",
  "required_message",
  "label::French (fr)",
];
const book = (rows: string[][]): Workbook => ({
  survey: sheet("survey", H, rows),
  choices: sheet(
    "choices",
    ["list_name", "name", "label"],
    [
      ["fruit", "apple", "Apple"],
      ["fruit", "pear", "Pear"],
    ],
  ),
  settings: sheet("settings", ["form_id", "version"], [["extras", "1"]]),
});

const errorsOf = (rows: string[][]) => {
  try {
    convertWorkbook(book(rows));
  } catch (err) {
    if (err instanceof XlsFormError) return err.errors.join("\n");
    throw err;
  }
  return "";
};

describe("XLSForm extras", () => {
  const rows = [
    ["select_one fruit or_other", "fav", "Favourite", "", "", "fav.png", "", "", "", "", "", "", "Préféré"],
    ["range", "score", "Score", "start=0 end=10 step=2"],
    ["range", "ratio", "Ratio", "start=0 end=1 step=0.1"],
    ["rank fruit", "order", "Order the fruit"],
    ["integer", "n", "How many", "", "", "", "", ". < 20", "Too many", "Trop", "yes", "Say how many"],
    ["begin repeat", "kids", "Kids", "", `${D}{n}`],
    ["text", "kid", "Kid"],
    ["end repeat"],
    ["begin repeat", "twice", "Twice", "", `${D}{n} * 2`],
    ["text", "t", "T", "", "", "", "t.mp3"],
    ["end repeat"],
  ];

  it("writes or_other, range, rank, repeat_count, media and translated messages", () => {
    const { xml } = convertWorkbook(book(rows));
    expect(xml).toContain("instance('fruit_or_other')/root/item");
    expect(xml).toContain(
      `<bind nodeset="/data/fav_other" type="string" relevant="selected(/data/fav, &apos;other&apos;)"/>`,
    );
    expect(xml).toContain('<range ref="/data/score" start="0" end="10" step="2">');
    expect(xml).toContain('<bind nodeset="/data/ratio" type="decimal"/>');
    expect(xml).toMatch(/<odk:rank ref="\/data\/order">/);
    expect(xml).toContain('<repeat nodeset="/data/kids" jr:count="/data/n">');
    expect(xml).toContain('<bind nodeset="/data/twice_count" type="string" calculate="/data/n * 2"/>');
    expect(xml).toContain('<repeat nodeset="/data/twice" jr:count="/data/twice_count">');
    expect(xml).toContain('<value form="image">jr://images/fav.png</value>');
    expect(xml).toContain('<value form="audio">jr://audio/t.mp3</value>');
    expect(xml).toContain(`jr:constraintMsg="jr:itext(&apos;/data/n:constraintMsg&apos;)"`);
    expect(xml).toContain("<value>Trop</value>");
    const def = readXForm(xml);
    expect(def.mediaFiles).toEqual(["fav.png", "t.mp3"]);
    expect(def.fields.find((f) => f.name === "order")!.type).toBe("rank");
  });

  it("loads in the real ODK engine", async () => {
    const { xml } = convertWorkbook(book(rows));
    const { createInstance } = await odkEngine();
    const form = await createInstance(xml as never, {
      form: {
        fetchFormDefinition: async () => new Response(xml),
        fetchFormAttachment: async () => new Response(""),
      } as never,
    });
    expect(form.root).toBeTruthy();
  }, 30_000);

  it.each([
    [
      "bad range parameters",
      [["range", "r", "R", "start=0 top=9"]],
      'survey!D2: "top=9" is not a range parameter',
    ],
    ["an empty range", [["range", "r", "R", "start=1 end=1"]], "survey!D2: a range needs start ≠ end"],
    [
      "an unknown repeat_count reference",
      [["begin repeat", "r", "R", "", `${D}{x}`], ["end repeat"]],
      `survey!E2: ${D}{x} names no question`,
    ],
    [
      "an unsafe media name",
      [["text", "a", "A", "", "", "../x.png"]],
      'survey!F2: "../x.png" is not a plain file name',
    ],
    [
      "a clashing or_other name",
      [
        ["select_one fruit or_other", "f", "F"],
        ["text", "f_other", "X"],
      ],
      'duplicate name "f_other"',
    ],
    [
      "an unknown function in a constraint",
      [["integer", "a", "A", "", "", "", "", "sqroot(.) > 1"]],
      "survey!H2: unknown function sqroot()",
    ],
  ])("reports %s at its cell", (_what, bad, message) => {
    expect(errorsOf(bad)).toContain(message);
  });
});
