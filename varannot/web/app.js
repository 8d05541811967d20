/* varannot page: plain JavaScript, no build step, no external resources.
 *
 * Everything shown comes from the server's result document; this file formats it and never
 * decides a call. Text from inputs is only ever set with textContent / createTextNode
 * (never innerHTML), links only from PMID:/DOI:/http(s) citations.
 */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SYNC_LIMIT = 4 * 1024 * 1024; // bigger uploads go to a job (progress + no timeout)
  const TRACE_EXT = [".ab1", ".abi", ".scf", ".fsa"];
  const VCF_EXT = [".vcf", ".vcf.gz", ".vcf.bgz", ".bcf", ".gvcf", ".g.vcf", ".g.vcf.gz", ".gz"];
  const SHEET_EXT = [".csv", ".tsv", ".txt"];
  const CALL_ORDER = ["resistant", "likely_resistant", "uncertain", "not_assessed",
    "no_known_resistance"];
  const CALL_LABEL = {
    resistant: "resistant", likely_resistant: "likely resistant", uncertain: "uncertain",
    not_assessed: "not assessed", no_known_resistance: "no known resistance",
  };
  const DYES = { A: "#137a13", C: "#1357b0", G: "#111111", T: "#c01c1c" };

  const state = {
    files: [], // {file, kind}
    apiKey: sessionStorage.getItem("varannot-api-key") || "",
    fields: new Set(), // multipart fields the server takes (from its OpenAPI document)
    diseases: null,
    doc: null,
    transcripts: null,
    busy: false,
  };

  // ---------------------------------------------------------------------------- DOM helpers
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = String(v);
        else if (k.startsWith("aria-") || k === "role" || k === "scope" || k === "tabindex"
          || k.startsWith("data-")) e.setAttribute(k, String(v));
        else e[k] = v;
      }
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.appendChild(typeof kid === "string" || typeof kid === "number"
        ? document.createTextNode(String(kid)) : kid);
    }
    return e;
  }
  const svgNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  const fmtPct = (v) => (v === null || v === undefined ? "" : `${(v * 100).toFixed(1)} %`);
  const basename = (p) => String(p || "").split(/[\\/]/).pop();

  function status(text) { $("status").textContent = text; }
  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = !text;
  }
  function progress(label, value) {
    const box = $("progress-box");
    if (label === null) { box.hidden = true; return; }
    box.hidden = false;
    $("progress-label").textContent = label;
    const bar = $("progress");
    if (value === undefined || value === null) bar.removeAttribute("value");
    else bar.value = Math.max(0, Math.min(100, value));
  }

  // ------------------------------------------------------------------------------ files
  function kindOf(name) {
    const n = name.toLowerCase();
    if (TRACE_EXT.some((x) => n.endsWith(x))) return "trace";
    if (SHEET_EXT.some((x) => n.endsWith(x))) return "samplesheet";
    if (VCF_EXT.some((x) => n.endsWith(x))) return "vcf";
    return null;
  }

  function addFiles(list) {
    const rejected = [];
    for (const f of list) {
      const kind = kindOf(f.name);
      if (!kind) { rejected.push(f.name); continue; }
      if (kind === "samplesheet") state.files = state.files.filter((x) => x.kind !== kind);
      state.files = state.files.filter((x) => x.file.name !== f.name);
      state.files.push({ file: f, kind });
    }
    renderFileList();
    showError(rejected.length
      ? `Not a trace, VCF or samplesheet (by its name): ${rejected.join(", ")}` : "");
  }

  function renderFileList() {
    const ul = $("file-list");
    ul.replaceChildren();
    state.files.forEach((f, i) => {
      const kindText = { trace: "Sanger trace", vcf: "VCF/BCF", samplesheet: "samplesheet" }[f.kind];
      ul.appendChild(el("li", null,
        el("span", { class: "kind", text: kindText }),
        el("span", { class: "name", text: f.file.name }),
        el("span", { class: "muted", text: `${(f.file.size / 1024).toFixed(1)} KiB` }),
        el("button", {
          type: "button", class: "small", text: "Remove", "aria-label": `Remove ${f.file.name}`,
          onclick: () => { state.files.splice(i, 1); renderFileList(); },
        })));
    });
    $("run").disabled = state.busy || !state.files.some((f) => f.kind !== "samplesheet");
  }

  // --------------------------------------------------------------------------- samplesheet
  const SHEET_COLUMNS = {
    sample: ["sample", "sample_id", "sample_name"],
    file: ["file", "path", "filename", "file_name"],
    vcf_sample: ["vcf_sample", "vcf_column"],
  };

  function splitRow(line, delim) {
    const out = []; let cur = ""; let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
        else if (ch === '"') quoted = false;
        else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === delim) { out.push(cur); cur = ""; }
      else cur += ch;
    }
    out.push(cur);
    return out.map((c) => c.trim());
  }

  /** Same format as `varannot annotate --samplesheet` (sample,file[,vcf_sample]). */
  function parseSheet(name, text) {
    const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/)
      .map((ln, i) => [i + 1, ln]).filter(([, ln]) => ln.trim() && !ln.startsWith("#"));
    if (!lines.length) throw new Error(`${name}: the samplesheet is empty`);
    const first = lines[0][1];
    const delim = first.includes("\t") ? "\t" : first.includes(",") ? "," : ";";
    const header = splitRow(first, delim).map((h) => h.toLowerCase());
    const col = {};
    for (const [key, names] of Object.entries(SHEET_COLUMNS)) {
      const n = names.find((x) => header.includes(x));
      if (n) col[key] = header.indexOf(n);
    }
    const missing = ["sample", "file"].filter((k) => !(k in col));
    if (missing.length) {
      throw new Error(`${name} line ${lines[0][0]}: needs columns 'sample' and 'file'; missing `
        + `${missing.join(", ")} (header: ${header.join(", ")})`);
    }
    return lines.slice(1).map(([line, ln]) => {
      const row = splitRow(ln, delim);
      const cell = (k) => (col[k] !== undefined && col[k] < row.length ? row[col[k]] : "");
      if (!cell("sample") || !cell("file")) {
        throw new Error(`${name} line ${line}: a row needs both a sample and a file`);
      }
      return { line, sample: cell("sample"), file: basename(cell("file")),
        vcfSample: cell("vcf_sample") || null };
    });
  }

  /** The requests to send: one per trace sample, VCFs together (or one per sheet row). */
  async function plan() {
    const inputs = state.files.filter((f) => f.kind !== "samplesheet");
    const sheetFile = state.files.find((f) => f.kind === "samplesheet");
    const reqs = [];
    if (sheetFile) {
      const rows = parseSheet(sheetFile.file.name, await sheetFile.file.text());
      const byName = new Map(inputs.map((f) => [f.file.name, f]));
      const named = new Set(rows.map((r) => r.file));
      const missing = rows.filter((r) => !byName.has(r.file));
      if (missing.length) {
        throw new Error(missing.map((r) => `${sheetFile.file.name} line ${r.line}: ${r.file} `
          + "is named in the samplesheet but was not dropped").join("\n"));
      }
      const extra = inputs.filter((f) => !named.has(f.file.name));
      if (extra.length) {
        throw new Error(`not in the samplesheet ${sheetFile.file.name}: `
          + extra.map((f) => f.file.name).join(", "));
      }
      const traceGroups = new Map();
      for (const r of rows) {
        const f = byName.get(r.file);
        if (f.kind === "trace") {
          if (!traceGroups.has(r.sample)) traceGroups.set(r.sample, []);
          traceGroups.get(r.sample).push(f.file);
        } else {
          const fields = {};
          if (r.vcfSample) fields.samples = r.vcfSample;
          reqs.push({ label: `${r.sample} (${r.file})`, files: [f.file], fields });
        }
      }
      for (const [sample, files] of traceGroups) {
        reqs.push({ label: sample, files, fields: { sample } });
      }
      return reqs;
    }
    const vcfs = inputs.filter((f) => f.kind === "vcf").map((f) => f.file);
    if (vcfs.length) reqs.push({ label: vcfs.map((f) => f.name).join(", "), files: vcfs, fields: {} });
    const traces = inputs.filter((f) => f.kind === "trace").map((f) => f.file);
    const fixed = $("sample").value.trim();
    const groups = new Map();
    for (const f of traces) {
      const key = fixed || f.name.split(".")[0];
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(f);
    }
    for (const [sample, files] of groups) reqs.push({ label: sample, files, fields: { sample } });
    return reqs;
  }

  // ------------------------------------------------------------------------------- HTTP
  function send(method, url, body, opts) {
    opts = opts || {};
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(method, url);
      x.responseType = opts.blob ? "blob" : "text";
      if (state.apiKey) x.setRequestHeader("Authorization", `Bearer ${state.apiKey}`);
      if (opts.json) x.setRequestHeader("Content-Type", "application/json");
      if (opts.onUpload) x.upload.onprogress = (e) => e.lengthComputable && opts.onUpload(e.loaded / e.total);
      x.onload = () => resolve(x);
      x.onerror = () => reject(new Error(`${method} ${url}: the server did not answer`));
      x.send(body === undefined ? null : body);
    });
  }

  function problemText(x) {
    let doc = null;
    try { doc = JSON.parse(x.responseType === "blob" ? "" : x.responseText); } catch (e) { doc = null; }
    if (!doc || typeof doc !== "object") return `HTTP ${x.status} ${x.statusText}`;
    const where = [doc.source, doc.record].filter(Boolean).join(", ");
    return `${doc.title || `HTTP ${x.status}`}: ${doc.detail || ""}${where ? ` (${where})` : ""}`;
  }

  function askKey(why) {
    return new Promise((resolve) => {
      const dlg = $("key-dialog");
      $("key-why").textContent = why;
      $("api-key").value = "";
      dlg.returnValue = "";
      dlg.addEventListener("close", () => {
        const key = $("api-key").value.trim();
        if (dlg.returnValue === "ok" && key) {
          state.apiKey = key;
          sessionStorage.setItem("varannot-api-key", key);
          resolve(true);
        } else resolve(false);
      }, { once: true });
      dlg.showModal();
      $("api-key").focus();
    });
  }

  /** Send, asking for an API key on 401 (and again when the key is refused). */
  async function call(method, url, makeBody, opts) {
    for (;;) {
      const x = await send(method, url, makeBody(), opts);
      if (x.status !== 401) return x;
      const why = state.apiKey ? "The server refused this API key; enter another one."
        : "This server needs an API key. It is kept in this browser tab only.";
      state.apiKey = "";
      sessionStorage.removeItem("varannot-api-key");
      if (!(await askKey(why))) throw new Error("An API key is required by this server.");
    }
  }

  function form(req) {
    const fd = new FormData();
    for (const f of req.files) fd.append("file", f, f.name);
    const fields = { ...req.fields };
    const build = $("build").value;
    if (build) fields.build = build;
    if (state.fields.has("disease")) fields.disease = $("disease").value;
    if (state.fields.has("trace_windows")) fields.trace_windows = "true";
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    return fd;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function runJob(req, n, total) {
    const tag = `${n}/${total} ${req.label}`;
    const x = await call("POST", "v1/jobs", () => form(req), {
      onUpload: (f) => progress(`Uploading ${tag}`, f * 100),
    });
    if (x.status !== 202) throw new Error(`${req.label}: ${problemText(x)}`);
    let job = JSON.parse(x.responseText);
    const t0 = Date.now();
    let wait = 500;
    while (job.status === "queued" || job.status === "running") {
      progress(`Job ${job.id.slice(0, 8)} for ${tag}: ${job.status} `
        + `(${Math.round((Date.now() - t0) / 1000)} s)`, null);
      await sleep(wait);
      wait = Math.min(wait * 1.5, 3000);
      const p = await call("GET", `v1/jobs/${job.id}`, () => undefined);
      if (p.status !== 200) throw new Error(`${req.label}: ${problemText(p)}`);
      job = JSON.parse(p.responseText);
    }
    if (job.status === "failed") {
      const e = job.error || {};
      throw new Error(`${req.label}: ${e.title || "job failed"}: ${e.detail || ""}`);
    }
    return job.result;
  }

  async function runOne(req, n, total) {
    const size = req.files.reduce((a, f) => a + f.size, 0);
    if (size > SYNC_LIMIT) return runJob(req, n, total);
    const tag = `${n}/${total} ${req.label}`;
    const x = await call("POST", "v1/annotate", () => form(req), {
      onUpload: (f) => progress(f < 1 ? `Uploading ${tag}` : `Annotating ${tag}`, f < 1 ? f * 100 : null),
    });
    if (x.status === 413 || x.status === 504) return runJob(req, n, total);
    if (x.status !== 200) throw new Error(`${req.label}: ${problemText(x)}`);
    return JSON.parse(x.responseText);
  }

  /** Several documents (one per request) shown and downloaded as one. */
  function mergeDocs(docs) {
    const out = JSON.parse(JSON.stringify(docs[0]));
    for (const d of docs.slice(1)) {
      out.samples.push(...d.samples);
      out.inputs.push(...d.inputs);
      out.variants_outside_genes += d.variants_outside_genes || 0;
      for (const w of d.warnings || []) if (!out.warnings.includes(w)) out.warnings.push(w);
      if (d.build !== out.build) {
        out.warnings.push(`inputs were annotated on different builds (${out.build}, ${d.build})`);
      }
    }
    return out;
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    if (state.busy) return;
    showError("");
    state.busy = true;
    renderFileList();
    try {
      const reqs = await plan();
      if (!reqs.length) throw new Error("Drop at least one trace or VCF.");
      const docs = [];
      for (let i = 0; i < reqs.length; i++) docs.push(await runOne(reqs[i], i + 1, reqs.length));
      state.doc = mergeDocs(docs);
      progress(null);
      status(`Done: ${state.doc.samples.length} sample(s) from ${state.doc.inputs.length} input(s).`);
      await loadTranscripts();
      renderResults(state.doc);
      $("results").focus();
    } catch (e) {
      progress(null);
      status("");
      showError(e.message || String(e));
    } finally {
      state.busy = false;
      renderFileList();
    }
  }

  async function loadTranscripts() {
    if (state.transcripts) return;
    try {
      const x = await call("GET", "v1/transcripts", () => undefined);
      if (x.status === 200) state.transcripts = JSON.parse(x.responseText).transcripts;
    } catch (e) { state.transcripts = null; }
  }

  /** Which optional fields this server takes (older servers refuse unknown fields). */
  async function discover() {
    try {
      const r = await fetch("openapi.json");
      const api = await r.json();
      const body = api.paths["/v1/annotate"].post.requestBody.content["multipart/form-data"];
      const props = body.schema.properties || {};
      state.fields = new Set(Object.keys(props));
      // the disease list the server accepts, inline or behind a $ref / anyOf
      const resolve = (x) => (x && x.$ref ? api.components.schemas[x.$ref.split("/").pop()] : x);
      let d = resolve(props.disease);
      if (d && !d.enum && Array.isArray(d.anyOf)) d = d.anyOf.map(resolve).find((x) => x && x.enum);
      if (d && Array.isArray(d.enum)) state.diseases = d.enum;
      $("server-info").textContent = `${api.info.title} ${api.info.version}`;
    } catch (e) {
      state.fields = new Set();
    }
    $("disease-note").textContent = state.fields.has("disease")
      ? "" : "This server does not take a disease yet: calls are not disease-specific.";
    if (state.diseases) {
      const sel = $("disease");
      for (const opt of Array.from(sel.options)) {
        if (!state.diseases.includes(opt.value)) opt.remove();
      }
      for (const v of state.diseases) {
        if (!Array.from(sel.options).some((o) => o.value === v)) sel.appendChild(el("option", { value: v, text: v }));
      }
    }
  }

  // ----------------------------------------------------------------------------- results
  const rank = (call) => { const i = CALL_ORDER.indexOf(call); return i < 0 ? 2 : i; };
  function chip(call, text, extra) {
    const cls = CALL_LABEL[call] ? call : "other";
    return el("span", { class: `chip ${cls} ${extra || ""}`.trim(), text: text || CALL_LABEL[call] || call,
      "data-call": call });
  }
  /** A clean call from an input that cannot show coverage (plain VCF) is marked, never bare. */
  function unknownMark(ch, c) {
    if (c.call === "no_known_resistance" && c.coverage === "unknown") {
      ch.appendChild(el("span", { class: "unknown-mark", text: " ?", "aria-hidden": "true" }));
      ch.title = "coverage unknown (plain VCF): not proof of wild type";
      ch.setAttribute("aria-label", `${c.drug}: no known resistance, coverage unknown`);
    }
    return ch;
  }
  function sampleRank(s) {
    return Math.min(...(s.calls || []).map((c) => rank(c.call)), CALL_ORDER.length);
  }

  function citation(c) {
    c = String(c).trim();
    let m = /^PMID:\s*(\d+)$/i.exec(c);
    if (m) return el("a", { href: `https://pubmed.ncbi.nlm.nih.gov/${m[1]}/`, text: `PMID:${m[1]}`, rel: "noreferrer" });
    m = /^DOI:\s*(10\.\S+)$/i.exec(c);
    if (m) return el("a", { href: `https://doi.org/${encodeURI(m[1])}`, text: `DOI:${m[1]}`, rel: "noreferrer" });
    m = /^(?:URL:\s*)?(https?:\/\/\S+)$/i.exec(c);
    if (m) return el("a", { href: m[1], text: m[1], rel: "noreferrer" });
    return document.createTextNode(c.replace(/^REF:/, ""));
  }
  function citations(list) {
    const span = el("span");
    (list || []).forEach((c, i) => { if (i) span.appendChild(document.createTextNode("; ")); span.appendChild(citation(c)); });
    return span;
  }

  function table(headers, rows, caption) {
    return el("div", { class: "table-wrap" }, el("table", null,
      caption ? el("caption", { class: "sr-only", text: caption }) : null,
      el("thead", null, el("tr", null, headers.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", null, rows.map((r) => el("tr", null, r.map((c) =>
        el("td", null, c instanceof Node ? c : String(c ?? "")))))),
    ));
  }

  function renderResults(doc) {
    $("results").hidden = false;
    const kb = doc.knowledge_base;
    const th = Object.entries(doc.thresholds || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    const disease = doc.disease || (state.fields.has("disease") ? $("disease").value : null);
    $("result-meta").textContent = `varannot ${doc.varannot_version}, ${doc.build}, reference `
      + `${doc.reference || "?"}; knowledge base ${kb ? `${kb.version} (sha256 ${kb.sha256.slice(0, 12)}…)` : "?"}`
      + `${disease ? `; disease ${disease}` : "; no disease sent (calls are not disease-specific)"}`
      + `${th ? `; thresholds: ${th}` : ""}; ${doc.variants_outside_genes} variant(s) outside the genes.`;
    $("warnings").replaceChildren(...(doc.warnings || []).map((w) => el("li", { text: w })));
    const samples = doc.samples.map((s, i) => [i, s]).sort((a, b) => sampleRank(a[1]) - sampleRank(b[1]) || a[0] - b[0]);
    const tbody = $("summary").querySelector("tbody");
    tbody.replaceChildren(...samples.map(([i, s]) => el("tr", null,
      el("th", { scope: "row" }, el("a", { href: `#sample-${i}`, text: s.sample })),
      ...CALL_ORDER.map((call) => el("td", null, (s.calls || []).filter((c) => c.call === call)
        .map((c) => unknownMark(chip(call, c.drug), c)))),
    )));
    $("samples").replaceChildren(...samples.map(([i, s]) => renderSample(i, s, doc)));
  }

  function renderSample(i, s, doc) {
    const r = sampleRank(s);
    const sec = el("section", { class: `panel sample rank-${CALL_ORDER[r] || "none"}`, id: `sample-${i}`,
      "aria-labelledby": `sample-${i}-h` });
    sec.appendChild(el("h3", { id: `sample-${i}-h`, text: s.sample }));
    const sources = (s.sources || []).flatMap((x) => String(x).split(",")).map(basename);
    sec.appendChild(el("p", { class: "meta", text: `from ${sources.join(", ")}; coverage from ${s.coverage_source}` }));
    const calls = [...(s.calls || [])].sort((a, b) => rank(a.call) - rank(b.call));
    sec.appendChild(el("h4", { text: "Calls per drug" }));
    sec.appendChild(el("div", { class: "calls", role: "list", "aria-label": `Calls for ${s.sample}` },
      calls.map((c) => {
        const ch = chip(c.call, " ", "drug-chip");
        ch.replaceChildren(el("b", { text: c.drug }), `: ${CALL_LABEL[c.call] || c.call}`);
        ch.setAttribute("data-drug", c.drug);
        return el("span", { role: "listitem" }, unknownMark(ch, c));
      })));
    const explained = calls.filter((c) => (c.evidence || []).length);
    if (explained.length) {
      sec.appendChild(el("h4", { text: "Evidence" }));
      for (const c of explained) sec.appendChild(renderCall(c));
    }
    // calls without evidence: their caveats, drugs with the same caveats on one line
    const notes = new Map();
    for (const c of calls.filter((x) => !(x.evidence || []).length && (x.caveats || []).length)) {
      const key = c.caveats.join("\u0000");
      if (!notes.has(key)) notes.set(key, { caveats: c.caveats, drugs: [] });
      notes.get(key).drugs.push(c.drug);
    }
    if (notes.size) {
      sec.appendChild(el("h4", { text: "Caveats" }));
      sec.appendChild(el("ul", { class: "gap-list caveats" }, [...notes.values()].map((n) =>
        el("li", null, el("b", { text: n.drugs.join(", ") }), `: ${n.caveats.join("; ")}`))));
    }
    sec.appendChild(el("h4", { text: "Coverage gaps" }));
    sec.appendChild(renderGaps(s));
    sec.appendChild(el("h4", { text: "Variants" }));
    sec.appendChild(renderVariants(s));
    if ((s.traces || []).length) sec.appendChild(renderTraces(s, doc));
    return sec;
  }

  function renderCall(c) {
    const d = el("details", { class: "call", open: c.call === "resistant" });
    d.appendChild(el("summary", null, chip(c.call), " ", el("b", { text: c.drug }),
      el("span", { class: "muted", text: ` (${c.drug_class}); coverage ${c.coverage}; `
        + `${(c.evidence || []).length} evidence row(s)` })));
    const list = el("ul", { class: "evidence", "aria-label": `Evidence for ${c.drug}` });
    for (const e of c.evidence || []) {
      const change = [e.hgvs_p || e.protein_change, e.protein_change_legacy ? `literature ${e.protein_change_legacy}` : null]
        .filter(Boolean).join(", ");
      const vaf = e.vaf === null || e.vaf === undefined ? "" : ` · VAF ${fmtPct(e.vaf)}${e.depth ? ` of ${e.depth}` : ""}`;
      list.appendChild(el("li", null,
        el("div", null, el("b", { text: e.rule_id }), ` ${e.gene} ${change}`),
        el("div", { class: "muted", text: `${e.effect}, ${e.status}, level ${e.level}, ${e.evidence_kind}${vaf}` }),
        (e.citations || []).length ? el("div", null, "Citations: ", citations(e.citations)) : null,
        e.note ? el("div", { class: "note", text: e.note }) : null));
    }
    if (list.childNodes.length) d.appendChild(list);
    if ((c.caveats || []).length) d.appendChild(el("ul", { class: "tight caveats" }, c.caveats.map((x) => el("li", { text: x }))));
    if ((c.uncovered_loci || []).length) d.appendChild(lociDetails(c.uncovered_loci));
    return d;
  }

  function lociDetails(loci) {
    return el("details", { class: "loci", open: loci.length <= 4 },
      el("summary", { text: `${loci.length} locus/loci not covered` }),
      el("ul", { class: "tight mono" }, loci.map((x) => el("li", { text: x }))));
  }

  /** Drugs sharing the same gap are listed together (a plain VCF: one line for all). */
  function renderGaps(s) {
    const rows = (s.calls || []).filter((c) => c.coverage !== "covered");
    if (!rows.length) return el("p", { text: "Every locus that matters for every drug was covered." });
    const groups = new Map();
    for (const c of rows) {
      const key = `${c.coverage}\u0000${(c.uncovered_loci || []).join("\u0001")}`;
      if (!groups.has(key)) groups.set(key, { c, drugs: [] });
      groups.get(key).drugs.push(c.drug);
    }
    const ul = el("ul", { class: "gap-list" });
    for (const { c, drugs } of groups.values()) {
      let why = `coverage ${c.coverage}`;
      if (c.coverage === "unknown") why = "coverage unknown: the input cannot tell which loci were sequenced (plain VCF), so “no known resistance” is not proof of wild type";
      ul.appendChild(el("li", null, el("b", { text: drugs.join(", ") }), `: ${why}`,
        (c.uncovered_loci || []).length ? lociDetails(c.uncovered_loci) : null));
    }
    return ul;
  }

  function renderVariants(s) {
    const all = [...(s.variants || []).map((v) => [v, false]), ...(s.excluded_variants || []).map((v) => [v, true])];
    const box = el("div");
    if (!all.length) {
      box.appendChild(el("p", { text: "No variant in MEN1, BCL2, BAX or TP53." }));
    } else {
      box.appendChild(table(
        ["Gene", "HGVS (MANE Select)", "Literature numbering", "Consequence", "Genotype",
          "VAF", "Depth", "Filter / flags", "Rules", "Position"],
        all.map(([v, excl]) => [v.gene || "",
          el("span", null, v.hgvs_c || "", el("br"), v.hgvs_p || v.protein_change || ""),
          v.hgvs_p_legacy || v.protein_change_legacy || "", (v.consequence || []).join(", "),
          v.genotype || "", fmtPct(v.vaf), v.depth ?? "",
          [...(v.filter || []), ...(v.flags || []), excl ? "excluded from calls" : ""].filter(Boolean).join(", "),
          (v.rule_ids || []).join(" "), `${v.chrom}:${v.pos} ${v.ref}>${v.alt}`]),
        `Variants of ${s.sample}`));
    }
    if ((s.unclassified_variants || []).length) {
      box.appendChild(el("p", { class: "muted", text: `Matching no knowledge-base rule: ${s.unclassified_variants.join(", ")}` }));
    }
    return box;
  }

  // ------------------------------------------------------------------------------ traces
  function renderTraces(s, doc) {
    const box = el("div", { class: "traces" });
    box.appendChild(el("h4", { text: "Sanger traces" }));
    const traces = []; const windows = [];
    for (const d of s.traces) {
      for (const t of d.traces || []) traces.push(t);
      for (const w of d.windows || []) windows.push(w);
    }
    box.appendChild(table(["Trace", "Placed on", "Calls"], traces.map((t) => {
      const p = t.placement;
      const where = p ? `${p.gene || p.region} ${p.chrom}:${p.start}-${p.end} (${p.strand}), identity ${p.identity}`
        : `not placed: ${t.reason || ""}`;
      return [t.trace, where, (t.calls || []).map((c) => `${c.variant} ${c.genotype}`).join(", ")];
    }), `Traces of ${s.sample}`));
    const placed = traces.filter((t) => t.placement);
    if (placed.length) box.appendChild(placementFigure(s, placed, windows, doc));
    if (windows.length) {
      box.appendChild(el("h4", { text: "Chromatograms" }));
      box.appendChild(el("p", { class: "hint", text: "Called variants first, then the knowledge-base "
        + "residues the reads cover. Zoom with the buttons, the + and − keys or Ctrl+wheel; pan with "
        + "the arrow keys or by dragging. Reverse reads are shown reverse-complemented (plus strand)." }));
      const variants = windows.filter((w) => w.kind === "variant");
      const residues = windows.filter((w) => w.kind !== "variant");
      if (variants.length) {
        box.appendChild(el("div", { class: "trace-grid" },
          variants.map((w, k) => chromatogramFigure(w, `${s.sample}-v${k}`))));
      }
      if (residues.length) {
        const det = el("details", { class: "residues", open: !variants.length },
          el("summary", { text: `Knowledge-base loci the reads cover (${residues.length} chromatogram(s))` }),
          el("div", { class: "trace-grid" }, residues.map((w, k) => chromatogramFigure(w, `${s.sample}-r${k}`))));
        box.appendChild(det);
      }
    } else if (placed.length) {
      box.appendChild(el("p", { class: "muted", text: "No chromatogram data in this result (the server did not send any)." }));
    }
    return box;
  }

  /** The reads on the gene (MANE CDS span) and, below, on the covered stretch with the sites. */
  function placementFigure(s, placed, windows, doc) {
    const fig = el("figure", { class: "placement-fig" });
    const genes = [...new Set(placed.map((t) => t.placement.gene || t.placement.region))];
    const W = 1000;
    const parts = [];
    let y0 = 6;
    for (const g of genes) {
      const reads = placed.filter((t) => (t.placement.gene || t.placement.region) === g);
      const tx = (state.transcripts || []).find((t) => t.gene === g && t.build === doc.build && t.role === "mane_select");
      const lo = Math.min(...reads.map((t) => t.placement.start));
      const hi = Math.max(...reads.map((t) => t.placement.end));
      const gs = tx ? Math.min(tx.cds_start, lo) : lo; const ge = tx ? Math.max(tx.cds_end, hi) : hi;
      const pad = (ge - gs) * 0.02 + 10;
      const X = (p) => 70 + ((p - (gs - pad)) / (ge - gs + 2 * pad)) * (W - 140);
      parts.push(svg("text", { x: 10, y: y0 + 14, "font-size": 14, "font-weight": 700 },
        tx ? `${g} ${tx.transcript} (${tx.strand} strand), coding span ${tx.chrom}:${tx.cds_start}-${tx.cds_end}` : g));
      // gene-wide track: the coding span and where the reads fall on it
      const gy = y0 + 40;
      parts.push(svg("text", { x: 10, y: gy + 4, "font-size": 11, fill: "#4d5566" }, "gene"));
      if (tx) {
        parts.push(svg("rect", { x: X(tx.cds_start), y: gy - 6, width: Math.max(2, X(tx.cds_end) - X(tx.cds_start)), height: 12, fill: "#c9d3e3", stroke: "#5b6b85" }));
        parts.push(svg("text", { x: X(tx.cds_start), y: gy + 20, "font-size": 11, fill: "#4d5566" }, tx.cds_start));
        parts.push(svg("text", { x: X(tx.cds_end), y: gy + 20, "font-size": 11, fill: "#4d5566", "text-anchor": "end" }, tx.cds_end));
      }
      for (const t of reads) {
        const p = t.placement;
        parts.push(svg("rect", { x: X(p.start), y: gy - 10, width: Math.max(3, X(p.end) - X(p.start)), height: 20, fill: "#0b4f8a", opacity: 0.6 }));
      }
      // the covered stretch, zoomed: reads with their strand, variants and KB loci
      const zy = gy + 50;
      const zpad = Math.max(20, (hi - lo) * 0.03);
      const Z = (p) => 70 + ((p - (lo - zpad)) / (hi - lo + 2 * zpad)) * (W - 140);
      parts.push(svg("line", { x1: X(lo), y1: gy + 10, x2: 70, y2: zy - 2, stroke: "#9aa3b2", "stroke-dasharray": "3 3" }));
      parts.push(svg("line", { x1: X(hi), y1: gy + 10, x2: W - 70, y2: zy - 2, stroke: "#9aa3b2", "stroke-dasharray": "3 3" }));
      parts.push(svg("line", { x1: 70, y1: zy, x2: W - 70, y2: zy, stroke: "#5b6b85", "stroke-width": 2 }));
      parts.push(svg("text", { x: 10, y: zy + 4, "font-size": 11, fill: "#4d5566" }, "reads"));
      parts.push(svg("text", { x: 70, y: zy - 5, "font-size": 11, fill: "#4d5566" }, Math.round(lo - zpad)));
      parts.push(svg("text", { x: W - 70, y: zy - 5, "font-size": 11, fill: "#4d5566", "text-anchor": "end" }, Math.round(hi + zpad)));
      const readsTop = zy + 8;
      reads.forEach((t, k) => {
        const p = t.placement; const ry = readsTop + k * 20;
        const x1 = Z(p.start); const x2 = Z(p.end);
        const arrow = p.strand === "-" ? `M${x1},${ry + 7} L${x1 + 10},${ry} L${x1 + 10},${ry + 14} Z`
          : `M${x2},${ry + 7} L${x2 - 10},${ry} L${x2 - 10},${ry + 14} Z`;
        parts.push(svg("rect", { x: x1, y: ry, width: Math.max(3, x2 - x1), height: 14, fill: "#0b4f8a", opacity: 0.8 }));
        parts.push(svg("path", { d: arrow, fill: "#13294b" }));
        parts.push(svg("text", { x: (x1 + x2) / 2, y: ry + 11, "font-size": 11, fill: "#fff", "text-anchor": "middle" },
          `${t.trace} (${p.strand}) ${p.start}-${p.end}`));
      });
      const readsBottom = readsTop + reads.length * 20;
      // site markers, labels below the reads in as many rows as needed to keep them apart
      const sites = new Map();
      for (const w of windows) {
        const key = `${w.kind}:${w.chrom}:${w.start}`;
        if (!sites.has(key) && w.start >= lo - zpad && w.start <= hi + zpad) sites.set(key, w);
      }
      const rowsEnd = [];
      const sorted = [...sites.values()].sort((a, b) => a.start - b.start);
      for (const w of sorted) {
        const x = Z((w.start + w.end) / 2);
        const col = w.kind === "variant" ? "#b3261e" : "#6b4fa0";
        const text = w.kind === "variant" ? w.label : w.label.replace(/\s*\((N[MP]_[^)]*)\)$/, "");
        const width = text.length * 6.2;
        let row = rowsEnd.findIndex((end) => end < x - width / 2 - 6);
        if (row < 0) { row = rowsEnd.length; rowsEnd.push(0); }
        rowsEnd[row] = x + width / 2;
        const ly = readsBottom + 14 + row * 15;
        parts.push(svg("line", { x1: x, y1: zy - 1, x2: x, y2: ly - 10, stroke: col, "stroke-width": w.kind === "variant" ? 2 : 1 }));
        parts.push(svg("text", { x: Math.min(W - width / 2, Math.max(width / 2, x)), y: ly, "font-size": 11, fill: col, "text-anchor": "middle" }, text));
      }
      y0 = readsBottom + 14 + rowsEnd.length * 15 + 16;
    }
    const root = svg("svg", { viewBox: `0 0 ${W} ${y0}`, class: "placement", role: "img",
      "aria-label": `Placement of ${placed.length} read(s) of ${s.sample} on ${genes.join(", ")}` });
    for (const p of parts) root.appendChild(p);
    fig.appendChild(root);
    fig.appendChild(el("figcaption", { class: "hint", text: "Top: the reads on the coding span of the gene. "
      + "Below: the covered stretch, with called variants (red) and knowledge-base loci (purple)." }));
    return fig;
  }

  function chromatogramFigure(w, id) {
    const title = `${w.kind === "variant" ? "Variant" : "Residue"} ${w.label} in ${w.trace}`
      + `${w.reverse_complemented ? " (reverse read, shown reverse-complemented)" : ""}`;
    const fig = el("figure", { class: "chromatogram", "data-kind": w.kind, "data-label": w.label, "data-trace": w.trace });
    fig.appendChild(el("figcaption", null, el("b", { text: w.kind === "variant" ? "Called variant " : "Residue " }),
      w.label, el("span", { class: "muted", text: ` · ${w.trace}${w.reverse_complemented ? " (reverse-complemented)" : ""} · bases ${w.trace_positions[0]}–${w.trace_positions[1]} of the file` })));
    const canvas = el("canvas", { tabindex: 0, role: "img", "aria-label": `Chromatogram: ${title}. ${heightsText(w)}`, id: `chrom-${id}` });
    fig.appendChild(canvas);
    fig.appendChild(el("p", { class: "heights" }, heightsNodes(w)));
    const view = new Chromatogram(canvas, w);
    const btn = (text, label, fn) => el("button", { type: "button", class: "small", text, "aria-label": `${label}: ${w.label} in ${w.trace}`,
      onclick: () => { fn(); view.draw(); } });
    fig.appendChild(el("div", { class: "zoom" },
      btn("Zoom in", "Zoom in", () => view.zoomX(1.5)),
      btn("Zoom out", "Zoom out", () => view.zoomX(1 / 1.5)),
      btn("Taller peaks", "Taller peaks", () => view.zoomY(1.5)),
      btn("Lower peaks", "Lower peaks", () => view.zoomY(1 / 1.5)),
      btn("Reset", "Reset the view", () => view.reset()),
      el("span", { class: "dyes", "aria-hidden": "true" }, ..."ACGT".split("").map((b) =>
        el("span", { class: `dye-${b}`, text: `■ ${b} ` })))));
    requestAnimationFrame(() => view.draw());
    return fig;
  }

  /** Peak heights of the four dyes at the site's bases (% of the window's highest signal). */
  function siteHeights(w) {
    const out = [];
    for (let k = w.site[0]; k <= w.site[1]; k++) {
      const p = w.peaks[k]; const h = {};
      for (const b of "ACGT") {
        const ch = w.channels[b];
        h[b] = Math.max(ch[p - 1] || 0, ch[p] || 0, ch[p + 1] || 0) / 10;
      }
      out.push({ k, pos: w.positions[k], ref: w.ref[k], call: w.bases[k], h });
    }
    return out;
  }
  function heightsText(w) {
    return siteHeights(w).map((s) => `position ${s.pos ?? "insertion"}: reference ${s.ref}, called ${s.call}, peaks `
      + "ACGT".split("").map((b) => `${b} ${Math.round(s.h[b])}%`).join(", ")).join("; ");
  }
  function heightsNodes(w) {
    return siteHeights(w).map((s) => {
      const sorted = "ACGT".split("").sort((a, b) => s.h[b] - s.h[a]);
      const ratio = s.h[sorted[0]] > 0 ? s.h[sorted[1]] / s.h[sorted[0]] : 0;
      return el("span", { class: "site-heights", "data-pos": s.pos ?? "" },
        `${s.pos ?? "ins"} ref ${s.ref} call ${s.call}: `,
        ..."ACGT".split("").map((b) => el("span", { class: `dye-${b}`, text: `${b} ${Math.round(s.h[b])} ` })),
        `· 2nd/1st ${ratio.toFixed(2)}`, el("br"));
    });
  }

  class Chromatogram {
    constructor(canvas, w) {
      this.c = canvas; this.w = w; this.n = w.channels.A.length;
      this.reset();
      canvas.addEventListener("keydown", (e) => {
        const k = e.key; let used = true;
        if (k === "+" || k === "=") this.zoomX(1.5);
        else if (k === "-" || k === "_") this.zoomX(1 / 1.5);
        else if (k === "ArrowLeft") this.pan(-0.15);
        else if (k === "ArrowRight") this.pan(0.15);
        else if (k === "ArrowUp" || k === "PageUp") this.zoomY(1.5);
        else if (k === "ArrowDown" || k === "PageDown") this.zoomY(1 / 1.5);
        else if (k === "0" || k === "Home") this.reset();
        else used = false;
        if (used) { e.preventDefault(); this.draw(); }
      });
      canvas.addEventListener("wheel", (e) => {
        if (!e.ctrlKey) return;
        e.preventDefault(); this.zoomX(e.deltaY < 0 ? 1.25 : 0.8); this.draw();
      }, { passive: false });
      let drag = null;
      canvas.addEventListener("pointerdown", (e) => { drag = e.clientX; canvas.setPointerCapture(e.pointerId); });
      canvas.addEventListener("pointermove", (e) => {
        if (drag === null) return;
        const dx = e.clientX - drag; drag = e.clientX;
        this.x0 -= dx / canvas.clientWidth * this.span(); this.clamp(); this.draw();
      });
      canvas.addEventListener("pointerup", () => { drag = null; });
      window.addEventListener("resize", () => this.draw());
      const det = canvas.closest("details");
      if (det) det.addEventListener("toggle", () => this.draw());
    }
    span() { return this.n / this.sx; }
    reset() { this.sx = 1; this.sy = 1; this.x0 = 0; }
    centre() { const w = this.w; return (w.peaks[w.site[0]] + w.peaks[w.site[1]]) / 2; }
    zoomX(f) {
      const mid = this.x0 + this.span() / 2;
      const site = this.centre();
      this.sx = Math.min(12, Math.max(1, this.sx * f));
      const c = f > 1 && Math.abs(mid - site) < this.span() ? site : mid;
      this.x0 = c - this.span() / 2; this.clamp();
    }
    zoomY(f) { this.sy = Math.min(20, Math.max(0.25, this.sy * f)); }
    pan(f) { this.x0 += f * this.span(); this.clamp(); }
    clamp() { this.x0 = Math.max(0, Math.min(this.n - this.span(), this.x0)); }
    draw() {
      const c = this.c; const w = this.w;
      const dpr = window.devicePixelRatio || 1;
      const W = c.clientWidth || 560; const H = c.clientHeight || 220;
      if (c.width !== Math.round(W * dpr)) c.width = Math.round(W * dpr);
      if (c.height !== Math.round(H * dpr)) c.height = Math.round(H * dpr);
      const g = c.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, W, H);
      g.fillStyle = "#fff"; g.fillRect(0, 0, W, H);
      const top = 8; const base = H - 46; const left = 34;
      const x = (s) => left + ((s - this.x0) / this.span()) * (W - left - 6);
      const y = (v) => base - Math.min(1.08, (v / 1000) * this.sy) * (base - top);
      // site band
      const p0 = w.peaks[w.site[0]]; const p1 = w.peaks[w.site[1]];
      const half = w.peaks.length > 1 ? (w.peaks[w.peaks.length - 1] - w.peaks[0]) / (w.peaks.length - 1) / 2 : 5;
      g.fillStyle = w.kind === "variant" ? "rgba(179,38,30,0.12)" : "rgba(107,79,160,0.12)";
      g.fillRect(x(p0 - half), top, x(p1 + half) - x(p0 - half), H - top - 2);
      // axis
      g.strokeStyle = "#cdd3dc"; g.lineWidth = 1;
      g.beginPath(); g.moveTo(left, base + 0.5); g.lineTo(W - 6, base + 0.5); g.stroke();
      g.fillStyle = "#4d5566"; g.font = "10px system-ui, sans-serif"; g.textAlign = "right";
      for (const v of [0, 250, 500, 750, 1000]) {
        if (y(v) >= top && (v === 0 || y(v) < base - 10)) g.fillText(`${v / 10}%`, left - 3, y(v) + 3);
      }
      // channels
      const lo = Math.max(0, Math.floor(this.x0) - 1); const hi = Math.min(this.n - 1, Math.ceil(this.x0 + this.span()) + 1);
      g.save(); g.beginPath(); g.rect(left, top - 4, W - left - 6, base - top + 4); g.clip();
      for (const b of "ACGT") {
        const ch = w.channels[b];
        g.strokeStyle = DYES[b]; g.lineWidth = 1.4; g.beginPath();
        for (let s = lo; s <= hi; s++) { const xx = x(s); const yy = y(ch[s]); if (s === lo) g.moveTo(xx, yy); else g.lineTo(xx, yy); }
        g.stroke();
      }
      g.restore();
      // base calls and reference
      g.font = "bold 13px ui-monospace, Menlo, Consolas, monospace"; g.textAlign = "center";
      g.fillStyle = "#4d5566"; g.font = "10px system-ui, sans-serif"; g.textAlign = "right";
      g.fillText("call", left - 3, base + 16); g.fillText("ref", left - 3, base + 34);
      g.textAlign = "center";
      for (let k = 0; k < w.peaks.length; k++) {
        const xx = x(w.peaks[k]);
        if (xx < left - 2 || xx > W - 4) continue;
        const call = w.bases[k]; const ref = w.ref[k];
        g.font = "bold 13px ui-monospace, Menlo, Consolas, monospace";
        g.fillStyle = DYES[call] || "#6b4fa0";
        g.fillText(call, xx, base + 16);
        const diff = ref !== call;
        g.font = `${diff ? "bold " : ""}12px ui-monospace, Menlo, Consolas, monospace`;
        g.fillStyle = diff ? "#a14f00" : "#6b7386";
        g.fillText(ref, xx, base + 34);
      }
    }
  }

  // --------------------------------------------------------------------------- downloads
  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function download(name) {
    if (!state.doc) return;
    showError("");
    if (name === "results.json") {
      saveBlob(new Blob([`${JSON.stringify(state.doc, null, 2)}\n`], { type: "application/json" }), name);
      return;
    }
    try {
      const x = await call("POST", `v1/render/${name}`, () => JSON.stringify(state.doc), { json: true, blob: true });
      if (x.status !== 200) {
        const text = await x.response.text();
        let msg = `HTTP ${x.status}`;
        try { const p = JSON.parse(text); msg = `${p.title}: ${p.detail}`; } catch (e) { /* not JSON */ }
        throw new Error(`${name}: ${msg}`);
      }
      saveBlob(x.response, name);
    } catch (e) { showError(e.message || String(e)); }
  }

  // ------------------------------------------------------------------------------ wiring
  function init() {
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
    $("files").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
    $("input-form").addEventListener("submit", onSubmit);
    $("clear").addEventListener("click", () => {
      state.files = []; state.doc = null; renderFileList(); showError(""); status("");
      $("results").hidden = true;
    });
    for (const b of document.querySelectorAll("[data-download]")) {
      b.addEventListener("click", () => download(b.getAttribute("data-download")));
    }
    renderFileList();
    discover();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
