// SMS length: GSM-7 (escape characters count twice) at 160/153 per segment, otherwise UCS-2 at 70/67.
const GSM =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const ESCAPED = "^{}\\[~]|€";

export interface SmsCount {
  length: number;
  segments: number;
  encoding: "GSM-7" | "UCS-2";
}

/** Characters, segments and encoding of an SMS body. */
export function smsSegments(text: string): SmsCount {
  const chars = [...text];
  const gsm = chars.every((ch) => GSM.includes(ch) || ESCAPED.includes(ch));
  if (gsm) {
    const length = chars.reduce((n, ch) => n + (ESCAPED.includes(ch) ? 2 : 1), 0);
    return { length, segments: length <= 160 ? 1 : Math.ceil(length / 153), encoding: "GSM-7" };
  }
  const length = [...text].reduce((n, ch) => n + (ch.codePointAt(0)! > 0xffff ? 2 : 1), 0);
  return { length, segments: length <= 70 ? 1 : Math.ceil(length / 67), encoding: "UCS-2" };
}
