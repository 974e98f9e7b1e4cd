// Renders the Sparks program's @solana/kit client from idl/sparks.json into
// src/generated (committed). `--check` renders into a temp dir and fails
// when the committed code differs: run `npm run generate` and commit.
//
// The @codama packages are pinned to 1.9.0 (package.json "overrides"):
// @codama/renderers-js 2.2.0 reads `structTypeNode.fields`, which
// @codama/nodes 1.10+ leaves out when a struct is empty.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createFromRoot } from "codama";
import { rootNodeFromAnchor } from "@codama/nodes-from-anchor";
import { renderVisitor } from "@codama/renderers-js";

const here = dirname(fileURLToPath(import.meta.url));
const client = join(here, "..");
const idl = JSON.parse(readFileSync(join(client, "../../idl/sparks.json"), "utf8"));
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "sparks-codama-")) : client;

await createFromRoot(rootNodeFromAnchor(idl)).accept(
  renderVisitor(out, {
    deleteFolderBeforeRendering: true,
    generatedFolder: "src/generated",
    syncPackageJson: false,
  }),
);

if (check) {
  const files = (root) =>
    readdirSync(root, { recursive: true })
      .map((f) => join(root, f))
      .filter((f) => statSync(f).isFile())
      .map((f) => relative(root, f))
      .sort();
  const fresh = join(out, "src/generated");
  const committed = join(client, "src/generated");
  const stale = [...new Set([...files(fresh), ...files(committed)])].filter((f) => {
    try {
      return readFileSync(join(fresh, f), "utf8") !== readFileSync(join(committed, f), "utf8");
    } catch {
      return true;
    }
  });
  rmSync(out, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(`clients/js/src/generated is stale (${stale.join(", ")}): run \`npm run generate\` in clients/js and commit it`);
    process.exit(1);
  }
  console.log("clients/js/src/generated matches idl/sparks.json");
}
