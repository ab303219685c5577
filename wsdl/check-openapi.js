// Validates OpenAPI 3.0 descriptions: first the document itself
// (@apidevtools/swagger-parser: structure, $refs), then every example against
// its schema, strictly: objects may hold only the properties the schema lists,
// so a key an adapter adds without documenting it fails here (ajv, installed
// with swagger-parser). Usage: NODE_PATH=DIR/node_modules node check-openapi.js FILE...
"use strict";
const fs = require("fs");
const Ajv = require("ajv");
const SwaggerParser = require("@apidevtools/swagger-parser");

// OpenAPI 3.0 schema -> JSON Schema: nullable becomes anyOf [..., null];
// allOf of objects is merged, so additionalProperties=false can apply.
function toJsonSchema(s, defs) {
  if (Array.isArray(s)) return s.map((x) => toJsonSchema(x, defs));
  if (s === null || typeof s !== "object") return s;
  if (s.allOf && !s.nullable && s.allOf.every((p) => resolve(p, defs).type === "object")) {
    const m = { type: "object", required: [], properties: {} };
    for (const p of s.allOf.map((x) => resolve(x, defs))) {
      m.required.push(...(p.required || []));
      Object.assign(m.properties, p.properties);
    }
    return toJsonSchema(m, defs);
  }
  const o = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "nullable" || k === "example" || k === "examples" || k === "format") continue;
    if (k === "$ref") o[k] = v.replace("#/components/schemas/", "#/definitions/");
    else if (k === "properties")
      o[k] = Object.fromEntries(Object.entries(v).map(([a, b]) => [a, toJsonSchema(b, defs)]));
    else o[k] = toJsonSchema(v, defs);
  }
  if (o.type === "object" && o.additionalProperties === undefined) o.additionalProperties = false;
  return s.nullable ? { anyOf: [o, { type: "null" }] } : o;
}

const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function resolve(s, defs) {
  return s.$ref ? defs[s.$ref.split("/").pop()] : s;
}

function checkExamples(file) {
  const api = JSON.parse(fs.readFileSync(file, "utf8"));
  const raw = api.components.schemas, defs = {};
  for (const [k, s] of Object.entries(raw)) defs[k] = toJsonSchema(s, raw);
  const ajv = new Ajv({ allErrors: true, strict: false });
  const check = (where, schema, value) => {
    // self-contained: "#/definitions/X" resolves inside the compiled schema
    const f = ajv.compile(Object.assign(toJsonSchema(schema, raw), { definitions: defs }));
    n++;
    if (!f(value)) {
      bad++;
      console.error(`${file}: ${where}: ${ajv.errorsText(f.errors)}`);
    }
  };
  const responses = api.components.responses || {};
  for (const [path, item] of Object.entries(api.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!HTTP_METHODS.includes(method)) continue;  // servers, parameters, summary...
      for (const [code, r0] of Object.entries(op.responses)) {
        const r = r0.$ref ? responses[r0.$ref.split("/").pop()] : r0;
        const c = r.content && r.content["application/json"];
        if (!c) continue;
        if (c.example !== undefined) check(`${method} ${path} ${code} example`, c.schema, c.example);
        for (const [name, ex] of Object.entries(c.examples || {}))
          check(`${method} ${path} ${code} example ${name}`, c.schema, ex.value);
      }
    }
  }
}

let bad = 0, n = 0;
(async () => {
  for (const file of process.argv.slice(2)) {
    try {
      const api = await SwaggerParser.validate(file);
      console.log(`${file}: valid OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths`);
    } catch (e) {
      bad++;
      console.error(`${file}: ${e.message}`);
      continue;
    }
    checkExamples(file);
  }
  console.log(`${n} examples checked, ${bad} failed`);
  process.exit(bad ? 1 : 0);
})();
