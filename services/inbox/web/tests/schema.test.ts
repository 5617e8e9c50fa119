// schema.d.ts is what openapi-typescript makes of the committed OpenAPI document (run `make api-types` otherwise).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const web = join(__dirname, "..");

describe("generated API types", () => {
  it("match the OpenAPI document", () => {
    const out = join(mkdtempSync(join(tmpdir(), "omnihub-api-")), "schema.d.ts");
    const cli = join(web, "node_modules", "openapi-typescript", "bin", "cli.js");
    execFileSync(process.execPath, [cli, "src/api/openapi.json", "-o", out, "--default-non-nullable=false"], { cwd: web, stdio: "pipe" });
    expect(readFileSync(join(web, "src", "api", "schema.d.ts"), "utf8")).toBe(readFileSync(out, "utf8"));
  }, 60_000);
});
