// The desktop's SMS counter runs the same vectors as the sms service's pytest (tests/vectors/sms_segments.json).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { smsSegments } from "../src/views/inbox/sms";

interface Case {
  name: string;
  parts: [string, number][];
  encoding: string;
  units: number;
  segments: number;
}
const vectors = JSON.parse(
  readFileSync(resolve(process.cwd(), "../../../tests/vectors/sms_segments.json"), "utf8"), // run from web/
) as { cases: Case[] };

describe("SMS segments (shared vectors)", () => {
  it.each(vectors.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const text = c.parts.map(([piece, times]) => piece.repeat(times)).join("");
    const got = smsSegments(text);
    expect([got.encoding, got.length, got.segments]).toEqual([c.encoding, c.units, c.segments]);
  });
});
