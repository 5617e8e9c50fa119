// The evaluators' QA workspace: queue from sampling policies (with seeds), a conversation under review, the
// scorecard, calibration sessions and disputes. The evaluator is whoever is logged in (the server decides).
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import type { EvaluationActionBody, QaCalibrationBody, QaDrawBody, QaEvaluationBody } from "../api/schemas";

export interface QaPolicy { id: string; days: number; fraction: number; minimum: number }
export interface QaItem { conversation_id: string; agent_id: string; channel: string; has_recording: boolean; sample_id: string; policy: string; seed: number }
export interface QaQuestion { id: string; text: string; weight: number; max_score: number; critical: boolean }
export interface QaSection { id: string; title: string; weight: number; questions: QaQuestion[] }
export interface QaScorecard { id: string; title: string; sections: QaSection[] }
export interface QaMessage { _id: string; text?: string; direction?: string; time?: number; agent_id?: string }
export interface QaRecord {
  conversation_id: string; agent?: string; channel?: string; queue?: string; has_recording: boolean;
  messages: QaMessage[]; evaluations: QaEvaluation[];
}
export interface QaEvaluation {
  _id: string; conversation_id: string; agent_id: string; evaluator_id: string; score: number; status: string;
  comments?: string; dispute_reason?: string; calibration_id?: string;
}
export interface QaCalibration {
  _id: string; name: string; conversation_ids: string[]; evaluators: string[];
  krippendorff_alpha: number | null; reading: "reliable" | "tentative" | "unreliable" | "insufficient";
}

const message = (err: unknown): string => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

export const useQaStore = defineStore("qa", () => {
  const policies = ref<QaPolicy[]>([]);
  const queue = ref<QaItem[]>([]);
  const scorecards = ref<QaScorecard[]>([]);
  const record = ref<QaRecord | null>(null);
  const calibrations = ref<QaCalibration[]>([]);
  const disputes = ref<QaEvaluation[]>([]);
  const submitted = ref<QaEvaluation | null>(null);
  const error = ref("");

  async function guard(work: () => Promise<void>): Promise<boolean> {
    try {
      await work();
      error.value = "";
      return true;
    } catch (err) {
      error.value = message(err);
      return false;
    }
  }

  const load = (): Promise<boolean> =>
    guard(async () => {
      const base = "/api/supervisor/qa";
      [policies.value, queue.value, scorecards.value, calibrations.value, disputes.value] = await Promise.all([
        request<QaPolicy[]>(`${base}/policies`),
        request<QaItem[]>(`${base}/queue`),
        request<QaScorecard[]>(`${base}/scorecards`),
        request<QaCalibration[]>(`${base}/calibrations`),
        request<QaEvaluation[]>(`${base}/evaluations?status=disputed`),
      ]);
    });

  const draw = (body: QaDrawBody): Promise<boolean> =>
    guard(async () => {
      await request("/api/supervisor/qa/samples", { method: "POST", body });
      queue.value = await request<QaItem[]>("/api/supervisor/qa/queue");
    });

  const open = (conversationId: string): Promise<boolean> =>
    guard(async () => {
      submitted.value = null;
      record.value = await request<QaRecord>(`/api/supervisor/qa/conversations/${seg(conversationId)}`);
    });

  const submit = (body: QaEvaluationBody): Promise<boolean> =>
    guard(async () => {
      submitted.value = await request<QaEvaluation>("/api/supervisor/qa/evaluations", { method: "POST", body });
      await load();
    });

  const openCalibration = (body: QaCalibrationBody): Promise<boolean> =>
    guard(async () => {
      await request("/api/supervisor/qa/calibrations", { method: "POST", body });
      calibrations.value = await request<QaCalibration[]>("/api/supervisor/qa/calibrations");
    });

  const resolve = (id: string, body: EvaluationActionBody): Promise<boolean> =>
    guard(async () => {
      await request(`/api/evaluations/${seg(id)}/resolve`, { method: "POST", body });
      disputes.value = await request<QaEvaluation[]>("/api/supervisor/qa/evaluations?status=disputed");
    });

  return { policies, queue, scorecards, record, calibrations, disputes, submitted, error, load, draw, open, submit, openCalibration, resolve };
});
