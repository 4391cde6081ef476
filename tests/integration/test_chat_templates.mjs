// Chat templates rendered by distiltrace's Jinja interpreter (tests/jinja_render) compared
// byte for byte with Hugging Face's own JavaScript renderer, @huggingface/jinja (the one
// transformers.js uses), on the same variables transformers passes: messages,
// add_generation_prompt, bos_token, eos_token, tools=null, documents=null, and a fixed day
// for strftime_now.
//
// Templates: tests/data/chat_templates/*.jinja (written for these tests: each construct and
// each family's shape), plus every *.jinja in $DT_CHAT_TEMPLATES_DIR (real templates kept
// out of the repository; NAME.json beside one may give its bos_token / eos_token). Each is
// rendered for six message shapes: a user message, one with surrounding whitespace, with a
// system message, both, a multi-turn conversation, and without the generation prompt.
// Templates named error_*.jinja must fail in both renderers.
//
// The reference is looked up in $DT_HF_JINJA (a node_modules directory), then
// tests/node/node_modules (`cd tests/node && npm install`, as .ci/run does);
// without it, or without the tool, the test is skipped (exit 77) saying why.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const source = process.env.DT_SOURCE || path.resolve(here, "..", "..");
const tool = process.env.DT_JINJA_RENDER;
const DATE = "2024-07-26";

function skip(why) {
  console.log(`1..0 # SKIP ${why}`);
  process.exit(77);
}

if (!tool || !fs.existsSync(tool)) skip("DT_JINJA_RENDER (the jinja_render tool) is not set");
let Template;
for (const dir of [process.env.DT_HF_JINJA, path.join(source, "tests", "node", "node_modules")]) {
  if (!dir) continue;
  try {
    const req = createRequire(path.join(dir, "noop.js"));
    ({ Template } = req("@huggingface/jinja"));
    break;
  } catch (e) {
    /* try the next place */
  }
}
if (!Template)
  skip("@huggingface/jinja not installed (cd tests/node && npm install)");

// The reference's strftime_now reads the clock (new Date()): during a render the clock says
// midnight of DATE, the day distiltrace's renderer is given.
const RealDate = Date;
function withFixedDate(fn) {
  const [y, m, d] = DATE.split("-").map(Number);
  globalThis.Date = class extends RealDate {
    constructor(...a) {
      if (a.length) super(...a);
      else super(y, m - 1, d, 0, 0, 0);
    }
  };
  try {
    return fn();
  } finally {
    globalThis.Date = RealDate;
  }
}

const SYSTEM = "You are a careful assistant.";
const shapes = {
  user: { messages: [{ role: "user", content: "What is the capital of France?" }] },
  user_ws: { messages: [{ role: "user", content: "  \n What is 2+2?\t \n" }] },
  system: { messages: [{ role: "system", content: SYSTEM }, { role: "user", content: "Hi there" }] },
  system_ws: {
    messages: [{ role: "system", content: "\n " + SYSTEM + "  " },
      { role: "user", content: "  Name three colours. \n\n" }],
  },
  multi_turn: {
    messages: [{ role: "user", content: "Hello" }, { role: "assistant", content: " Hi! How can I help?" },
      { role: "user", content: "Tell me a joke." }],
  },
  no_gen_prompt: { messages: [{ role: "user", content: "Plain" }], add_generation_prompt: false },
};

function collect(dir, real) {
  if (!dir || !fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith(".jinja")).sort().map((f) => {
    const side = path.join(dir, f.replace(/\.jinja$/, ".json"));
    const extra = fs.existsSync(side) ? JSON.parse(fs.readFileSync(side, "utf8")) : {};
    return { name: f.replace(/\.jinja$/, ""), file: path.join(dir, f), extra, real };
  });
}
const templates = [...collect(path.join(source, "tests", "data", "chat_templates"), false),
  ...collect(process.env.DT_CHAT_TEMPLATES_DIR, true)];
if (!templates.length) skip("no templates found");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dt-tmpl-"));
let n = 0, failed = 0;
const table = [];
for (const t of templates) {
  const src = fs.readFileSync(t.file, "utf8");
  const expectError = t.name.startsWith("error_");
  const row = [];
  for (const [shape, base] of Object.entries(shapes)) {
    const vars = {
      add_generation_prompt: true, bos_token: "<s>", eos_token: "</s>", tools: null,
      documents: null, ...t.extra, ...base,
    };
    let ref, refErr = null;
    try {
      ref = withFixedDate(() => new Template(src).render(vars));
    } catch (e) {
      refErr = String(e.message || e).split("\n")[0];
    }
    const vf = path.join(tmp, "vars.json");
    fs.writeFileSync(vf, JSON.stringify(vars));
    let ours, ourErr = null;
    try {
      ours = execFileSync(tool, [t.file, vf, DATE], { stdio: ["ignore", "pipe", "pipe"] }).toString("utf8");
    } catch (e) {
      ourErr = (e.stderr ? e.stderr.toString() : String(e)).trim();
    }
    let ok, note = "";
    if (expectError) {
      ok = refErr !== null && ourErr !== null;
      note = ok ? "" : `expected both to fail: ours ${ourErr ?? "rendered"}, reference ${refErr ?? "rendered"}`;
    } else if (refErr !== null && ourErr !== null) {
      ok = true; // both refuse this shape (a template that requires, say, alternating roles)
      note = "both refuse";
    } else if (refErr !== null || ourErr !== null) {
      ok = false;
      note = `ours: ${ourErr ?? "rendered"}; reference: ${refErr ?? "rendered"}`;
    } else {
      ok = ours === ref;
      if (!ok) {
        let i = 0;
        while (i < ours.length && ours[i] === ref[i]) i++;
        note = `differs at ${i}: ours ${JSON.stringify(ours.slice(i, i + 40))}, ` +
          `reference ${JSON.stringify(ref.slice(i, i + 40))}`;
      }
    }
    n++;
    if (!ok) failed++;
    console.log(`${ok ? "" : "not "}ok ${n} - ${t.name} ${shape}${note ? " # " + note : ""}`);
    row.push(ok ? (note === "both refuse" ? "refused" : "identical") : "DIFFERS");
  }
  table.push([t.real ? t.name + " (real)" : t.name, ...row]);
}
console.log(`1..${n}`);
console.log("# | template | " + Object.keys(shapes).join(" | ") + " |");
for (const r of table) console.log("# | " + r.join(" | ") + " |");
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
