#!/usr/bin/env node
// Compares `distiltrace tokenize` with Hugging Face's own Rust `tokenizers` (the prebuilt
// Node binding @anush008/tokenizers, tokenizers 0.22) on a tokenizer.json:
//
//   node scripts/hf-compare.js [--dt build/cli/distiltrace] [--texts FILE] [--quiet] PATH...
//
// PATH is a tokenizer.json or a directory holding one. Every text is encoded both ways,
// with special tokens matched (`--special`; HF: the file as it is) and without (control
// tokens are plain text; HF: the file with its special added tokens taken out), no
// BOS/EOS added; distiltrace encodes all texts of a mode in one `tokenize --batch` call (one
// tokenizer load), each text alone only when that call fails. Prints one line per tokenizer and mode, "identical N/M", and the first
// differences; exits 1 when any text differs, 77 when the binding is not installed.
// The binding is found in DT_NODE_MODULES, tests/node/node_modules (`npm install` in tests/node,
// as .ci/run does), NODE_PATH, or by Node's usual resolution.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

function loadBinding() {
  const dirs = [process.env.DT_NODE_MODULES, path.join(__dirname, '..', 'tests', 'node', 'node_modules'),
    ...(process.env.NODE_PATH || '').split(':')].filter(Boolean);
  for (const d of dirs) {
    try { return require(path.join(d, '@anush008', 'tokenizers')); } catch (e) { /* next */ }
  }
  try { return require('@anush008/tokenizers'); } catch (e) { return null; }
}

// A fixed text set: prose, code, numbers, whitespace runs, CJK, Arabic, emoji with ZWJ,
// combining accents, decomposed Hangul, Zalgo, control-token text, invalid-looking escapes,
// and seeded random Unicode from many blocks.
function texts(specials) {
  const t = [
    'Hello world', ' Hello world', 'Hello  world  ', '  leading and trailing  ',
    "The quick brown fox jumps over the lazy dog. It's 3:14 p.m.; we'll see—don't we?",
    'HELLO World hello WORLD İstanbul ΣΊΣΥΦΟΣ straße', 'e.g. U.S.A., i.e., etc.',
    'def f(x):\n    return x ** 2  # square\n\n\tif x != 0:\n\t\tprint("ok")\r\n',
    'for (int i = 0; i < n; ++i) { a[i] = b[i] * 2; }  // C',
    '1234567890 3.14159 -42 1e-9 0x1F 1,000,000 ½ ²³ ٣٤٥ ᛮ Ⅻ',
    '\n', '\n\n\n', ' ', '   ', '\t \t', 'a\nb\r\nc\rd', '    indented\n        more',
    '中文分词测试，这是一个句子。日本語のテキスト、カタカナ。한국어 텍스트입니다.',
    'مرحبا بالعالم، هذا نص عربي.', 'שלום עולם', 'Привет, мир! Ёжик.', 'नमस्ते दुनिया',
    '👨‍👩‍👧‍👦 family 🏳️‍🌈 flag 👍🏽 thumbs 🦙 llama', 'café', 'cafe\u0301', 'Cafe\u0301 Ame\u0301lie',
    'A\u030a ﬁ ﬀ ① ㈱ ｶﾀｶﾅ ＡＢＣ　全角', '\u1100\u1161\u11a8\u1100\u1161', '\u1112\u1161\u11ab\u1100\u1173\u11af',
    'Z̴̡̢̛̗̘̙̜̝̞̟̠̀́̂̃̄̅̆̇̈̉̊̋̌̍̎̏̐̑̒̓̔ạ̷̸̡̢̧̨̛̖̗̘̙̜̝̞̟̠̣̤̥̦̩̪̫̬̭̮̯̰̱̲̳̹̺̻̼͇͈͉͍͎̀́̂̃̄̅̆̇̈̉̊̋̌̍̎̏̐̑̒̓̔̽̾̿̀́͂̓̈́͆͊͋͌̕̚ͅl̶g̵o̴',
    'under_score snake_case camelCase kebab-case dot.case', 'a--b---c -- ---', 'x' + '-'.repeat(40),
    '!!! ??? ... ,,, ;;; ::: \'\'\' """ ``` ~~~', '<p class="x">html &amp; entities</p>',
    'ＵＲＬ https://example.com/a?b=c&d=e#f mail@x.org', '   \n  \n', 'tab\there', '\u00a0nbsp\u2003em\u3000ideo',
    'zero\u200bwidth\u200cjoiner\u200d\ufeffbom', 'ǅungla ǈ ǋ', 'ΑΒΓ αβγ ς', 'ẞ ß ﬃ',
  ];
  const sp = specials.slice(0, 6);
  for (const s of sp) {
    t.push(s + 'Who are you?' + s, 'text ' + s + ' text', s + s, ' ' + s + ' ', s + '\n' + s);
  }
  if (sp.length >= 2) t.push(sp[0] + 'user\nHi there!' + sp[1] + '\n' + sp[0] + 'assistant\n');
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
  const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x52f], [0x590, 0x6ff],
    [0x900, 0x97f], [0x1100, 0x11ff], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3],
    [0xff00, 0xffef], [0x1f300, 0x1faff], [0x2000, 0x206f], [0x10000, 0x1007f]];
  for (let k = 0; k < 40; k++) {
    let s = '';
    const n = 1 + Math.floor(rnd() * 40);
    for (let i = 0; i < n; i++) {
      if (rnd() < 0.15) { s += ' '; continue; }
      const b = blocks[Math.floor(rnd() * blocks.length)];
      s += String.fromCodePoint(b[0] + Math.floor(rnd() * (b[1] - b[0] + 1)));
    }
    t.push(s);
  }
  return t;
}

async function main() {
  const args = process.argv.slice(2);
  let dt = process.env.DT_BIN || 'build/cli/distiltrace', textFile = null, quiet = false;
  const paths = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--dt') dt = args[++i];
    else if (args[i] === '--texts') textFile = args[++i];
    else if (args[i] === '--quiet') quiet = true;
    else paths.push(args[i]);
  }
  if (!paths.length) {
    console.error('usage: hf-compare.js [--dt BIN] [--texts FILE] [--quiet] TOKENIZER_JSON_OR_DIR...');
    process.exit(2);
  }
  const hf = loadBinding();
  if (!hf) {
    console.error('hf-compare: @anush008/tokenizers is not installed (npm install @anush008/tokenizers)');
    process.exit(77);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dt-hfcmp-'));
  let allSame = true;
  for (const p of paths) {
    const file = fs.statSync(p).isDirectory() ? path.join(p, 'tokenizer.json') : p;
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    const specials = (doc.added_tokens || []).filter(a => a.special).map(a => a.content);
    let set = texts(specials);
    if (textFile) set = set.concat(fs.readFileSync(textFile, 'utf8').split('\n__text__\n'));
    for (const special of [true, false]) {
      // without --special, control tokens are text: HF with its special added tokens removed
      let hfFile = file;
      if (!special) {
        const d2 = JSON.parse(JSON.stringify(doc));
        // HF numbers added tokens in order after model.vocab, so a removed token would shift
        // the ids of the later ones: a special token stays, with a content no text holds (one
        // that model.vocab has takes no new id and can simply go)
        const mv = (d2.model && d2.model.vocab && !Array.isArray(d2.model.vocab)) ? d2.model.vocab : {};
        d2.added_tokens = (d2.added_tokens || []).filter(a => !(a.special && a.content in mv))
          .map(a => (a.special ? Object.assign(a, { content: '\u{10FFFF}dt-unmatchable-' + a.id, normalized: false }) : a));
        hfFile = path.join(tmp, 'nospecial.json');
        fs.writeFileSync(hfFile, JSON.stringify(d2));
      }
      let tok;
      try {
        tok = hf.Tokenizer.fromFile(hfFile);
      } catch (e) {
        console.log(`${p} special=${special ? 'on' : 'off'}: HF cannot load it (${e.message})`);
        continue;
      }
      // one `tokenize --batch` per file and mode (records "N\n" + N bytes); when it fails,
      // each text on its own, so the failing texts carry their own error
      const wants = [];
      for (const s of set) wants.push(Array.from((await tok.encode(s, null, { addSpecialTokens: false })).getIds()));
      const flags = special ? ['--special'] : [];
      const run = (args, input) => execFileSync(dt, ['tokenize', '--model', file, ...args, ...flags],
        { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
      const parse = line => (line.trim() === '' ? [] : line.trim().split(' ').map(Number));
      let gots = null;
      const inp = path.join(tmp, 'in.txt');
      try {
        const recs = set.map(s => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([Buffer.from(b.length + '\n'), b]); });
        fs.writeFileSync(inp, Buffer.concat(recs));
        const lines = run(['--batch', '--file', inp]).split('\n');
        if (lines.length === set.length + 1 && lines[set.length] === '') gots = lines.slice(0, set.length).map(parse);
      } catch (e) { gots = null; }
      if (!gots) {
        gots = set.map(s => {
          fs.writeFileSync(inp, s);
          try { return parse(run(['--file', inp])); } catch (e) { return ['error: ' + String(e.stderr || e.message).trim()]; }
        });
      }
      let same = 0;
      const diffs = [];
      set.forEach((s, i) => {
        if (JSON.stringify(gots[i]) === JSON.stringify(wants[i])) same++;
        else diffs.push({ text: s, got: gots[i], want: wants[i] });
      });
      if (same !== set.length) allSame = false;
      console.log(`${p} special=${special ? 'on' : 'off'}: identical ${same}/${set.length}`);
      if (!quiet) {
        for (const d of diffs.slice(0, 3)) {
          console.log(`  text ${JSON.stringify(d.text).slice(0, 300)}\n    dt ${JSON.stringify(d.got).slice(0, 200)}\n    hf ${JSON.stringify(d.want).slice(0, 200)}`);
        }
      }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(allSame ? 0 : 1);
}

main().catch(e => { console.error('hf-compare: ' + e.message); process.exit(1); });
