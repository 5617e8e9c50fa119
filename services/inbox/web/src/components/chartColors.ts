// One palette for the contact figures wherever they are charted (wallboard, reports), so a colour means one thing.
export const COLORS = {
  offered: "#8a93a6",
  answered: "#1f4fd1",
  abandoned: "#c0392b",
  serviceLevel: "#1e7b34",
  target: "#b26b00",
} as const;
