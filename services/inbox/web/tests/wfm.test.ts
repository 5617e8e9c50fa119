// Workforce management in the desktop: the ISO week the schedule views ask for.
import { isoWeek } from "../src/stores/wfm";

describe("isoWeek", () => {
  it("names the ISO week by its Thursday, across year ends", () => {
    expect(isoWeek(new Date(2026, 11, 7))).toBe("2026-W50"); // a Monday
    expect(isoWeek(new Date(2026, 11, 13))).toBe("2026-W50"); // its Sunday
    expect(isoWeek(new Date(2027, 0, 1))).toBe("2026-W53"); // Friday 1 January belongs to the old year
    expect(isoWeek(new Date(2025, 11, 29))).toBe("2026-W01"); // Monday 29 December belongs to the new one
  });
});
