// The i18n catalogue: every key in both languages, valid ICU with the same placeholders, no unused key.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { IntlMessageFormat } from "intl-messageformat";
import { TYPE, parse, type MessageFormatElement } from "@formatjs/icu-messageformat-parser";
import en from "../src/i18n/en.json";
import zhCN from "../src/i18n/zh-CN.json";
import { i18n, setLanguage } from "../src/i18n";

type Tree = { [key: string]: string | Tree };

function flatten(tree: Tree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(key, v);
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
  }
  return out;
}

function placeholders(elements: MessageFormatElement[], out = new Set<string>()): Set<string> {
  for (const el of elements) {
    if (el.type === TYPE.argument || el.type === TYPE.number || el.type === TYPE.date || el.type === TYPE.time) out.add(el.value);
    if (el.type === TYPE.plural || el.type === TYPE.select) {
      out.add(el.value);
      for (const option of Object.values(el.options)) placeholders(option.value, out);
    }
  }
  return out;
}

function sources(dir: string): string {
  let text = "";
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) text += sources(path);
    else if (/\.(ts|vue)$/.test(name)) text += readFileSync(path, "utf8");
  }
  return text;
}

const EN = flatten(en as Tree);
const ZH = flatten(zhCN as Tree);
// Brand names that are written the same in Chinese.
const SAME_IN_BOTH = new Set(["channels.whatsapp"]);

/** The message's own words: its text without the ICU placeholders and their options. */
function words(text: string): string {
  let out = text;
  for (let previous = ""; previous !== out; ) {
    previous = out;
    out = out.replace(/\{[^{}]*\}/g, "");
  }
  return out;
}

describe("i18n catalogue", () => {
  it("has every key in both languages", () => {
    expect([...ZH.keys()].sort()).toEqual([...EN.keys()].sort());
  });

  it("parses as ICU with the same placeholders in both languages", () => {
    for (const [key, text] of EN) {
      const zh = ZH.get(key) ?? "";
      new IntlMessageFormat(text, "en");
      new IntlMessageFormat(zh, "zh-CN");
      expect([...placeholders(parse(zh))].sort(), key).toEqual([...placeholders(parse(text))].sort());
    }
  });

  it("translates every message (no English left in the Chinese catalogue)", () => {
    for (const [key, text] of EN) {
      if (SAME_IN_BOTH.has(key) || ZH.get(key) !== text) continue;
      expect(words(text), `${key} is English in zh-CN`).not.toMatch(/[A-Za-z]{2,}/);
    }
  });

  it("uses every key somewhere in the sources (keys are always written out in full)", () => {
    const text = sources(join(__dirname, "..", "src"));
    const unused = [...EN.keys()].filter((key) => !text.includes(`"${key}"`) && !text.includes(`'${key}'`));
    expect(unused).toEqual([]);
  });

  it("formats plurals and placeholders per language", () => {
    setLanguage("en");
    expect(i18n.global.t("shell.who", { name: "Alice", role: "agent" })).toBe("Alice · agent");
    setLanguage("zh-CN");
    expect(i18n.global.t("login.submit")).toBe("登录");
    setLanguage("en");
  });
});
