// Catalogue keys of the default scorecard's sections and questions and of alpha's readings (written out in full);
// a scorecard the catalogue does not know shows the server's own text.
export const SECTION_KEYS: Record<string, string> = {
  courtesy: "qa.sections.courtesy",
  accuracy: "qa.sections.accuracy",
  data: "qa.sections.data",
};
export const QUESTION_KEYS: Record<string, string> = {
  greeting: "qa.questions.greeting",
  tone: "qa.questions.tone",
  no_rudeness: "qa.questions.noRudeness",
  correct: "qa.questions.correct",
  policy: "qa.questions.policy",
  verified: "qa.questions.verified",
  recorded: "qa.questions.recorded",
  efficient: "qa.questions.efficient",
};
export const READING_KEYS: Record<string, string> = {
  reliable: "qa.readings.reliable",
  tentative: "qa.readings.tentative",
  unreliable: "qa.readings.unreliable",
  insufficient: "qa.readings.insufficient",
};
export const POLICY_KEYS: Record<string, string> = {
  daily: "qa.policies.daily",
  weekly: "qa.policies.weekly",
};
