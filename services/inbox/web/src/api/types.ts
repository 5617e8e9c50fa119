// Shapes of the inbox API's JSON (protobuf messages rendered with their .proto field names).
import type { MeResponse } from "./schemas";

export type Channel =
  | "CHANNEL_SMS"
  | "CHANNEL_EMAIL"
  | "CHANNEL_VOICE"
  | "CHANNEL_WEBCHAT"
  | "CHANNEL_TELEGRAM"
  | "CHANNEL_WECHAT"
  | "CHANNEL_WHATSAPP"
  | string;

export type AgentStateName =
  | "AGENT_STATE_OFFLINE"
  | "AGENT_STATE_AVAILABLE"
  | "AGENT_STATE_BUSY"
  | "AGENT_STATE_WRAP_UP"
  | "AGENT_STATE_AWAY";

/** Who is logged in (the generated response model of /api/me and /api/login). */
export type Me = MeResponse;

export interface Identity {
  channel?: Channel;
  source_id?: string;
}

export interface Conversation {
  id: string;
  channel?: Channel;
  customer_id?: string;
  identity?: Identity;
  status?: string;
  routing_state?: string;
  queue?: string;
  assigned_agent?: string;
  create_time?: string;
  enqueue_time?: string;
  answer_time?: string;
  preview?: string;
  subject?: string;
  customer_display_name?: string;
  recording_uri?: string;
  flagged?: boolean;
  unread_count?: number;
  last_activity_time?: string;
}

export interface Offer {
  reservation_id: string;
  conversation?: Conversation;
  expire_time?: string;
  reason?: string;
}

export interface Agent {
  id: string;
  display_name?: string;
  state?: AgentStateName;
  state_reason?: string;
  state_time?: string;
  wrap_up_end_time?: string;
  queues?: string[];
  missed_offers?: number;
  conversation_ids?: string[];
}

export interface Attachment {
  id?: string; // what GET /api/attachments/{id} opens
  uri?: string;
  file_name?: string;
  content_type?: string;
  size_bytes?: string | number;
}

export interface Message {
  _id: string;
  conversation_id: string;
  customer_id?: string;
  channel: string;
  direction: "incoming" | "outgoing" | "activity" | string;
  text: string;
  subject?: string;
  agent_id?: string;
  private?: boolean;
  time: number;
  status?: string;
  error?: string;
  attachments?: Attachment[];
  intervention?: "whisper" | "barge" | "" | string; // written by a supervisor
  /** Email: the mail's other recipients (To and Cc, without the sender and our mailboxes), for a reply-all. */
  reply_all_cc?: string[];
  /** An activity line: a call control, or what happened to the conversation (transferred, ended, ...). */
  activity?: CallActivity | ConversationActivity;
}

/** What happened to a conversation, as a line of its timeline. */
export interface ConversationActivity {
  kind: "transferred" | "ended" | "wrapped_up" | "survey_sent";
  [detail: string]: string | boolean | string[];
}

export interface CallActivity {
  kind: "call";
  action: string;
  actor_id: string;
  actor_role: string;
  target: string;
}

export interface Customer {
  id?: string;
  display_name?: string;
  identities?: Identity[];
}

export interface KbDoc {
  _id: string;
  title: string;
  body: string;
  kind?: string;
  shortcut?: string;
  language?: string;
}


export interface Evaluation {
  _id: string;
  conversation_id: string;
  evaluator_id: string;
  score: number;
  status: "submitted" | "acknowledged" | "disputed" | string;
  comments?: string;
}

export interface Candidate {
  agent_id: string;
  score?: number;
  detail?: string;
}

export interface RoutingDecision {
  conversation_id?: string;
  queue?: string;
  strategy?: string;
  chosen_agent?: string;
  reason?: string;
  decide_time?: string;
  relaxation_step?: number;
  eligible_count?: number;
  candidates?: Candidate[];
}

/** Seconds since the epoch of a protobuf JSON timestamp ("" → 0). */
export function epoch(ts: string | undefined): number {
  return ts ? Date.parse(ts) / 1000 : 0;
}

/** One queue member with the skills, and why they have not got the waiting conversation. */
export interface WaitingAgent {
  agent_id: string;
  state?: AgentStateName;
  detail?: string; // in English, for logs: the page shows `cause` in the user's language
  cause?: string; // offline, away, on_call, at_capacity, excluded, free
  away_reason?: string;
  used?: number;
  max?: number;
  excluded_until?: string;
}

/** "Why still waiting" (GET /api/supervisor/conversations/{id}/waiting): the router's first cause now. */
export interface WaitingExplanation {
  conversation_id: string;
  queue?: string;
  reason: string; // not_waiting, held_for_agent, queue_closed, no_agent_with_skill, none_logged_in, all_away, ...
  waited_seconds: number;
  position?: number;
  relaxation_step?: number;
  next_step_time?: string;
  held_for_agent?: string;
  held_until?: string;
  agents?: WaitingAgent[];
  agents_with_skill?: number;
  required_skills?: { name?: string; min_level?: number }[];
}
