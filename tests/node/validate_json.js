// Validates JSON documents against one of docs/schema/*.schema.json (draft-07) with ajv.
// Usage: node validate_json.js SCHEMA FILE... ; a FILE ending in .jsonl is validated line by
// line. Prints one line per document; exit 1 on any invalid.
'use strict';
const fs = require('fs');
const Ajv = require('ajv');
const [schemaPath, ...files] = process.argv.slice(2);
const ajv = new Ajv({allErrors: true, strict: false});
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
let bad = 0;
for (const f of files) {
  const text = fs.readFileSync(f, 'utf8');
  const docs = f.endsWith('.jsonl') ? text.split('\n').filter((l) => l.trim()) : [text];
  docs.forEach((d, i) => {
    let doc;
    try {
      doc = JSON.parse(d);
    } catch (e) {
      bad++;
      console.log(`invalid ${f}#${i}: not JSON: ${e.message}`);
      return;
    }
    if (validate(doc)) {
      console.log(`valid ${f}#${i}`);
    } else {
      bad++;
      console.log(`invalid ${f}#${i}: ${ajv.errorsText(validate.errors)}`);
    }
  });
}
process.exit(bad ? 1 : 0);
