// Workforce management in the desktop: the ISO week the schedule views ask for, why an edit was refused.
import { ApiError } from "../src/api/http";
import { isoWeek, refusal } from "../src/stores/wfm";

describe("isoWeek", () => {
  it("names the ISO week by its Thursday, across year ends", () => {
    expect(isoWeek(new Date(2026, 11, 7))).toBe("2026-W50"); // a Monday
    expect(isoWeek(new Date(2026, 11, 13))).toBe("2026-W50"); // its Sunday
    expect(isoWeek(new Date(2027, 0, 1))).toBe("2026-W53"); // Friday 1 January belongs to the old year
    expect(isoWeek(new Date(2025, 11, 29))).toBe("2026-W01"); // Monday 29 December belongs to the new one
  });
});

describe("schedule edit refusals", () => {
  it("reads quality's code and parameters, else the status", () => {
    const body = JSON.stringify({ code: "max_hours", message: "x", params: { agent: "erin", hours: 42, limit: 40 } });
    expect(refusal(new ApiError(400, body))).toEqual({ code: "max_hours", params: { agent: "erin", hours: 42, limit: 40 } });
    expect(refusal(new ApiError(409, JSON.stringify({ code: "stale", params: {} })))).toEqual({ code: "stale", params: {} });
    expect(refusal(new ApiError(403, "this agent is not in your team"))).toEqual({ code: "team", params: {} });
    expect(refusal(new ApiError(400, "date: invalid"))).toEqual({ code: "invalid", params: {} });
    expect(refusal(new ApiError(503, ""))).toEqual({ code: "unavailable", params: {} });
    expect(refusal(new Error("boom"))).toEqual({ code: "unavailable", params: {} });
  });
});
