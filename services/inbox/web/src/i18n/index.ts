// vue-i18n with ICU messages (intl-messageformat): plurals, select and named placeholders, never concatenation.
import { IntlMessageFormat } from "intl-messageformat";
import { createI18n, type MessageCompiler, type MessageContext } from "vue-i18n";
import en from "./en.json";
import zhCN from "./zh-CN.json";

export const LANGUAGES = ["en", "zh-CN"] as const;
export type Language = (typeof LANGUAGES)[number];
export type Catalogue = typeof en;

const STORAGE_KEY = "omnihub.lang";

// vue-i18n calls the compiler on every t() of a custom-compiled message (it caches only its own compiler's
// output), so each message's formatter is kept here: parsing ICU and resolving the locale on every render cost
// most of the conversation list's first paint.
const compiled = new Map<string, IntlMessageFormat>();
let made = 0;

/** ICU MessageFormat compiler: each message is parsed once per locale, without eval. */
export const icuCompiler: MessageCompiler = (message, { locale, key, onError }) => {
  if (typeof message !== "string") return () => key; // only plain ICU strings are in the catalogue
  const cacheKey = `${locale}\u0000${message}`;
  let formatter = compiled.get(cacheKey);
  if (formatter === undefined) {
    try {
      formatter = new IntlMessageFormat(message, locale, undefined, { ignoreTag: true });
      made += 1;
    } catch (err) {
      onError?.(Object.assign(new Error(`bad ICU message ${key}: ${String(err)}`), { code: 0 }));
      return () => key;
    }
    compiled.set(cacheKey, formatter);
  }
  const ready = formatter;
  return (ctx: MessageContext<string>) =>
    String(ready.format((ctx as unknown as { values: Record<string, string | number> }).values));
};

/** How many message formatters were made so far (tests). */
export function compiledCount(): number {
  return made;
}

/** The language the agent chose before, else the browser's. */
export function initialLanguage(): Language {
  const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "zh-CN") return saved;
  return (globalThis.navigator?.language ?? "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

export const i18n = createI18n<[Catalogue], Language, false>({
  legacy: false,
  locale: initialLanguage(),
  fallbackLocale: "en",
  messages: { en, "zh-CN": zhCN },
  messageCompiler: icuCompiler,
  missingWarn: false,
  fallbackWarn: false,
});

/** Switch the UI language, remember it, and tell assistive technology via <html lang>. */
export function setLanguage(lang: Language): void {
  i18n.global.locale.value = lang;
  globalThis.localStorage?.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
}

/** The current language. */
export function language(): Language {
  return i18n.global.locale.value;
}
