// Request and response types of the inbox API, generated from its OpenAPI document (`make api-types`):
// the pydantic models, /api/openapi.json and this client cannot drift apart (tests fail when they do).
import type { components } from "./schema";

type Schemas = components["schemas"];
export type LoginBody = Schemas["LoginBody"];
export type StateBody = Schemas["StateBody"];
export type ForceStateBody = Schemas["ForceStateBody"];
export type ReplyBody = Schemas["ReplyBody"];
export type TypingBody = Schemas["TypingBody"];
export type WrapUpBody = Schemas["WrapUpBody"];
export type TransferBody = Schemas["TransferBody"];
export type ReassignBody = Schemas["ReassignBody"];
export type MergeBody = Schemas["MergeBody"];
export type KbBody = Schemas["KbBody"];
export type EvaluationActionBody = Schemas["EvaluationActionBody"];
export type MeResponse = Schemas["Me"];
export type Report = Schemas["Report"];
export type ReportRow = Schemas["ReportRow"];
export type KbEntry = Schemas["KbDoc"];
export type KbCategory = Schemas["KbCategory"];
export type CallControlBody = Schemas["CallControlBody"];
export type SupervisorCallBody = Schemas["SupervisorCallBody"];
export type CallView = Schemas["CallView"];
export type VoiceToken = Schemas["VoiceToken"];
export type Disposition = Schemas["Disposition"];
export type Dispositions = Schemas["Dispositions"];
export type LabelsBody = Schemas["LabelsBody"];
export type Labels = Schemas["Labels"];
export type SnoozeBody = Schemas["SnoozeBody"];
export type Snoozed = Schemas["Snoozed"];
export type Organised = Schemas["Organised"];
export type OrganisedConversation = Schemas["OrganisedConversation"];
export type WhatsAppComposer = Schemas["WhatsAppComposer"];
export type MyPerformance = Schemas["MyPerformance"];
export type TeamFigures = Schemas["TeamFigures"];
export type LiveBoard = Schemas["LiveBoard"];
export type LiveConversation = Schemas["LiveConversation"];
export type LiveAgent = Schemas["LiveAgent"];
