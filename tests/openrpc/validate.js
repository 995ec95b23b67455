// Validate an OpenRPC document (a file named on the command line) against the
// OpenRPC meta-schema with ajv. Exit 0 when valid; 1 with the errors on stderr.
"use strict";
const fs = require("fs");
const Ajv = require("ajv");
const copy = (schema) => JSON.parse(JSON.stringify(schema.default || schema));
// The OpenRPC meta-schema refers to its JSON Schema dialect as "https://meta.json-schema.tools",
// without the trailing slash of that schema's $id: name it the way the $id does.
const metaSchema = JSON.parse(JSON.stringify(copy(require("@open-rpc/meta-schema")))
  .replaceAll('"https://meta.json-schema.tools"', '"https://meta.json-schema.tools/"'));
// What OpenRPC allows as a JSON Schema: the draft-07 meta-schema json-schema-tools publishes,
// which both documents also name as their own dialect ($schema), a URL ajv does not know.
const jsonSchema = copy(require("@json-schema-tools/meta-schema"));
delete metaSchema.$schema;
delete jsonSchema.$schema;
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(jsonSchema);

// The formats the two meta-schemas use, as WHATWG URL and the JavaScript RegExp read them.
const parses = (make) => (text) => {
  try { make(text); return true; } catch (error) { return false; }
};
ajv.addFormat("uri", parses((text) => new URL(text)));  // absolute
ajv.addFormat("uri-reference", parses((text) => new URL(text, "http://base.invalid/")));
ajv.addFormat("regex", parses((text) => new RegExp(text, "u")));
const validate = ajv.compile(metaSchema);
const document = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
if (validate(document)) {
  console.log("valid");
  process.exit(0);
}
console.error(JSON.stringify(validate.errors, null, 1));
process.exit(1);
