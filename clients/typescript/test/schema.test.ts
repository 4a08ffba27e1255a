// src/schema.ts is generated (npm run generate): it must be exactly what openapi-typescript
// makes of ../../openapi.json now, so a changed API forces regenerating it.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../../", import.meta.url)); // the package (from dist/test/)

test("src/schema.ts is what openapi-typescript generates from openapi.json now (else: npm run generate)", async () => {
  const cli = fileURLToPath(new URL("node_modules/openapi-typescript/bin/cli.js", `file://${root}`));
  const { stdout } = await promisify(execFile)(process.execPath, [cli, "../../openapi.json"], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  });
  const committed = fs.readFileSync(new URL("src/schema.ts", `file://${root}`), "utf8");
  assert.ok(stdout.includes("export interface paths"), "openapi-typescript printed the types");
  assert.ok(
    committed === stdout,
    "src/schema.ts differs from what openapi-typescript generates from ../../openapi.json: run `npm run generate` in clients/typescript",
  );
});
