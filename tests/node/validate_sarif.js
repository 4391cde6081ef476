// Validates SARIF files against the OASIS SARIF 2.1.0 JSON schema (as shipped in the npm
// registry's @microsoft/jest-sarif) with ajv (draft-04 build). Prints one line per file; exit 1 on any invalid.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv-draft-04'); // the SARIF 2.1.0 schema is draft-04
const addFormats = require('ajv-formats');
const schemaPath = path.join(__dirname, 'node_modules', '@microsoft', 'jest-sarif', 'lib', 'schemas',
                             'sarif-2.1.0-rtm.5.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
// unicodeRegExp off: the schema's 'language' pattern is not a valid regular expression in /u mode
const ajv = new Ajv({allErrors: true, strict: false, unicodeRegExp: false});
addFormats(ajv);
const validate = ajv.compile(schema);
let bad = 0;
for (const f of process.argv.slice(2)) {
  const doc = JSON.parse(fs.readFileSync(f, 'utf8'));
  if (validate(doc)) {
    console.log(`valid ${f}`);
  } else {
    bad++;
    console.log(`invalid ${f}: ${ajv.errorsText(validate.errors)}`);
  }
}
process.exit(bad ? 1 : 0);
