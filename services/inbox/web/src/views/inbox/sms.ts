// SMS length as the sms service counts it (services/sms/src/omnihub/sms/segments.py, same test vectors in
// tests/vectors/sms_segments.json): GSM-7 with its extension characters as two septets, 160 per message or
// 153 per part; otherwise UCS-2, 70 / 67 UTF-16 units; no part splits an escape or a surrogate pair.
const GSM =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const ESCAPED = "^{}\\[~]|€\f";

export interface SmsCount {
  /** Septets (GSM-7) or UTF-16 units (UCS-2). */
  length: number;
  segments: number;
  encoding: "GSM-7" | "UCS-2";
}

function parts(sizes: number[], single: number, multi: number): number {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total <= single) return 1;
  let count = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > multi) {
      count += 1;
      used = 0;
    }
    used += size;
  }
  return count;
}

/** Units, parts and encoding of an SMS body. */
export function smsSegments(text: string): SmsCount {
  const chars = [...text];
  if (chars.every((ch) => GSM.includes(ch) || ESCAPED.includes(ch))) {
    const sizes = chars.map((ch) => (ESCAPED.includes(ch) ? 2 : 1));
    return { length: sizes.reduce((a, b) => a + b, 0), segments: parts(sizes, 160, 153), encoding: "GSM-7" };
  }
  const sizes = chars.map((ch) => (ch.codePointAt(0)! > 0xffff ? 2 : 1));
  return { length: sizes.reduce((a, b) => a + b, 0), segments: parts(sizes, 70, 67), encoding: "UCS-2" };
}
