// Validates a GitHub Actions workflow with GitHub's own parser (@actions/workflow-parser); prints the errors as JSON.
import { readFileSync } from "node:fs";
import { register } from "node:module";

register("./jsonImportHook.mjs", import.meta.url);
const { parseWorkflow, NoOperationTraceWriter } = await import("@actions/workflow-parser");
const file = process.argv[2];
const r = parseWorkflow({ name: file, content: readFileSync(file, "utf8") }, new NoOperationTraceWriter());
process.stdout.write(JSON.stringify(r.context.errors.getErrors().map((e) => e.message)));
