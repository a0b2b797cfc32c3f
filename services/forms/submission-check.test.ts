/** Submission checks as a scenario table: each rule, on a small form, with hostile input. Pure. */
import { describe, expect, it } from "vitest";
import { checkSubmission, parseSubmission, SubmissionError } from "./submission-check.js";
import { readXForm } from "./xform.js";

const FORM =
  readXForm(`<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
<h:head><h:title>T</h:title><model><instance><data id="t" version="1">
<n/><d/><when/><at/><where/><path/><ok/><pic/><g><inner/></g><r jr:template=""><x/></r><opt/><meta><instanceID/></meta>
</data></instance>
<bind nodeset="/data/n" type="int" required="true()"/><bind nodeset="/data/d" type="decimal"/>
<bind nodeset="/data/when" type="date"/><bind nodeset="/data/at" type="dateTime"/><bind nodeset="/data/where" type="geopoint"/>
<bind nodeset="/data/path" type="geotrace"/><bind nodeset="/data/ok" type="boolean"/><bind nodeset="/data/pic" type="binary"/>
<bind nodeset="/data/opt" type="string" required="true()" relevant="/data/n &gt; 5"/>
</model></h:head><h:body><repeat nodeset="/data/r"><input ref="/data/r/x"/></repeat></h:body></h:html>`);

const LIMITS = { maxRepeats: 3, maxElements: 200 };
const ok =
  "<n>1</n><d>-2.5</d><when>2026-12-07</when><at>2026-12-07T10:00:00.000+01:00</at><where>1 2 3 4</where>";
const sub = (body: string, id = "uuid:1") =>
  `<data id="t" version="1">${body}<meta><instanceID>${id}</instanceID></meta></data>`;
const check = (xml: string) => checkSubmission(parseSubmission(xml, LIMITS), FORM, LIMITS);

describe("submission checks", () => {
  it("accepts a valid submission and reads its values, attachments and repeats", () => {
    const c = check(
      sub(
        `${ok}<path>1 2;3 4</path><ok>true</ok><pic>a.jpg</pic><g><inner>i</inner></g><r><x>1</x></r><r><x>2</x></r>`,
      ),
    );
    expect(c.instanceId).toBe("uuid:1");
    expect(c.attachments).toEqual(["a.jpg"]);
    expect(c.values).toMatchObject({ "/data/n": "1", "/data/r[2]/x": "2", "/data/g/inner": "i" });
  });

  it.each([
    ["a DOCTYPE (billion laughs)", `<!DOCTYPE data [<!ENTITY a "x">]>${sub(ok)}`, 400, "DOCTYPE"],
    [
      "an external entity",
      `<!DOCTYPE data [<!ENTITY e SYSTEM "file:///etc/passwd">]>${sub("<n>&e;</n>")}`,
      400,
      "DOCTYPE",
    ],
    ["another root", sub(ok).replace(/data/g, "other"), 400, "<other>"],
    ["an unknown field", sub(`${ok}<salary>1</salary>`), 400, "/data/salary"],
    ["a field twice", sub(`${ok}<d>1</d>`), 400, "/data/d appears more than once"],
    ["a group as a leaf's child", sub(`${ok}<d><y/></d>`), 400, "/data/d"],
    ["a non-integer", sub(ok.replace("<n>1</n>", "<n>1.5</n>")), 400, "/data/n"],
    ["a huge integer", sub(ok.replace("<n>1</n>", `<n>${"9".repeat(40)}</n>`)), 400, "/data/n"],
    ["a bad decimal", sub(ok.replace("-2.5", "1,5")), 400, "/data/d"],
    ["a bad date", sub(ok.replace("2026-12-07<", "2026-13-45<")), 400, "/data/when"],
    ["a bad dateTime", sub(ok.replace("2026-12-07T10", "yesterday T10")), 400, "/data/at"],
    ["a geopoint off the globe", sub(ok.replace("1 2 3 4", "91 2")), 400, "/data/where"],
    ["a bad geotrace", sub(`${ok}<path>1 2;x</path>`), 400, "/data/path"],
    ["a bad boolean", sub(`${ok}<ok>maybe</ok>`), 400, "/data/ok"],
    ["a traversal as file name", sub(`${ok}<pic>../../etc/passwd</pic>`), 400, "/data/pic"],
    ["a missing required field", sub(ok.replace("<n>1</n>", "")), 400, "/data/n"],
    ["an empty required field", sub(ok.replace("<n>1</n>", "<n> </n>")), 400, "/data/n"],
    ["too many repeats", sub(`${ok}${"<r><x/></r>".repeat(4)}`), 413, "/data/r"],
    ["too many elements", sub(`${ok}${"<r><x/></r>".repeat(150)}`), 413, "more than 200 elements"],
    ["a bad instanceID", sub(ok, "uuid:<x>"), 400, ""],
    ["an empty instanceID", sub(ok, ""), 400, "instanceID"],
  ])("refuses %s", (_what, xml, status, words) => {
    try {
      check(xml);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SubmissionError);
      expect((err as SubmissionError).status).toBe(status);
      expect((err as SubmissionError).message).toContain(words);
    }
  });

  it("lets a conditional required field be absent (not relevant)", () => {
    expect(check(sub(ok)).instanceId).toBe("uuid:1");
  });
});
