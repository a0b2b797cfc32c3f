/**
 * Forms throughput: OpenRosa submissions per second (each with a 200 KB photo, through the gateway and the
 * forms service: multipart parse, check against the form, blob store, SQLite, outbox) against raw uploads of
 * the same bytes through the files service in the same run; and XLSForm → XForm conversion time for a
 * 500-question form.
 *
 *   forms_submit_ratio = submissions/s / files uploads/s
 *
 * Knobs: BENCH_FORMS_N (200 submissions and as many uploads), BENCH_FORMS_CONCURRENCY (4).
 */
import { randomBytes } from "node:crypto";
import { convertWorkbook } from "../../services/forms/xlsform/convert.js";
import { sheet } from "../../services/forms/xlsform/sheets.js";
import { startTestAppliance } from "../helpers/appliance.js";
import { envNumber, metric, note, onCleanup, removeAppliance } from "./util.js";

const XFORM = `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
<h:head><h:title>Bench</h:title><model>
<instance><data id="bench" version="1"><what/><photo/><meta><instanceID/></meta></data></instance>
<bind nodeset="/data/what" type="string"/><bind nodeset="/data/photo" type="binary"/>
<bind nodeset="/data/meta/instanceID" type="string" jr:preload="uid"/>
</model></h:head><h:body><input ref="/data/what"><label>What</label></input>
<upload ref="/data/photo" mediatype="image/*"><label>Photo</label></upload></h:body></h:html>`;

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** A 500-question XLSForm (every tenth a select_one, a group every 50) converted to an XForm. */
function conversionMs(): number {
  const rows: string[][] = [];
  for (let i = 0; i < 500; i++) {
    if (i % 50 === 0) rows.push(["begin group", `g${i}`, `Group ${i}`]);
    rows.push([
      i % 10 === 0 ? "select_one yn" : i % 3 ? "text" : "integer",
      `q${i}`,
      `Question ${i}`,
      i ? `\${q${i - 1}} != ''` : "",
    ]);
    if (i % 50 === 49) rows.push(["end group"]);
  }
  const wb = {
    survey: sheet("survey", ["type", "name", "label", "relevant"], rows),
    choices: sheet(
      "choices",
      ["list_name", "name", "label"],
      [
        ["yn", "yes", "Yes"],
        ["yn", "no", "No"],
      ],
    ),
    settings: sheet("settings", ["form_id", "version"], [["big", "1"]]),
  };
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    convertWorkbook(wb);
    times.push(performance.now() - t0);
  }
  return Math.min(...times);
}

export async function formsBench(): Promise<void> {
  const n = envNumber("BENCH_FORMS_N", 200);
  const concurrency = envNumber("BENCH_FORMS_CONCURRENCY", 4);
  const app = await startTestAppliance({ services: ["forms", "files"] });
  onCleanup(() => removeAppliance(app));
  const up = await app.api("/api/forms/forms?publish=true", {
    method: "POST",
    headers: { "content-type": "application/xml" },
    body: XFORM,
  });
  if (up.status !== 201) throw new Error(`form upload: ${up.status} ${await up.text()}`);
  const au = (await (
    await app.api("/api/forms/app-users", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "bench" }),
    })
  ).json()) as { serverUrl: string };
  const photos = Array.from({ length: n }, () => randomBytes(200 * 1024));
  note(`${n} submissions and ${n} uploads of 200 KiB, ${concurrency} at a time`);
  const files = await pool(n, concurrency, async (i) => {
    const r = await app.api(`/api/files/spaces/me/content/bench/p${i}.jpg`, {
      method: "PUT",
      headers: { "content-type": "image/jpeg" },
      body: new Uint8Array(photos[i]!),
    });
    if (r.status !== 201) throw new Error(`files upload: ${r.status}`);
    await r.arrayBuffer();
  });
  const forms = await pool(n, concurrency, async (i) => {
    const fd = new FormData();
    const xml = `<data id="bench" version="1"><what>x</what><photo>p.jpg</photo><meta><instanceID>uuid:b${i}</instanceID></meta></data>`;
    fd.append("xml_submission_file", new Blob([xml], { type: "text/xml" }), "submission.xml");
    fd.append("p.jpg", new Blob([new Uint8Array(photos[i]!)], { type: "image/jpeg" }), "p.jpg");
    const r = await fetch(`${au.serverUrl}/submission`, { method: "POST", body: fd });
    if (r.status !== 201) throw new Error(`submission: ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  });
  metric("files_uploads_per_s", files, 1);
  metric("forms_submissions_per_s", forms, 1);
  metric("forms_submit_ratio", forms / files);
  metric("xlsform_500_questions_ms", conversionMs(), 1);
}
