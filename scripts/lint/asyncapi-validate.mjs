// Validates an AsyncAPI document with the AsyncAPI initiative's own parser, references
// resolved from the file's folder. Prints every diagnostic; exits 1 if there is any error
// or warning, so that the document stays clean.
import { resolve } from 'node:path';
import { Parser, fromFile } from '@asyncapi/parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node asyncapi-validate.mjs FILE');
  process.exit(2);
}
const severities = ['error', 'warning', 'info', 'hint'];
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, resolve(file)).parse();
let bad = 0;
for (const d of diagnostics) {
  const sev = severities[d.severity] ?? String(d.severity);
  const at = d.path.join('.');
  console.log(`${file}: ${sev}: ${d.code}: ${d.message}${at ? ` at ${at}` : ''}`);
  if (d.severity <= 1) bad++;
}
if (!document || bad > 0) {
  console.error(`${file}: ${bad} errors or warnings`);
  process.exit(1);
}
const channels = document.channels().all().map((c) => c.address()).join(', ');
console.log(`${file}: valid AsyncAPI ${document.version()}: ${channels}`);
