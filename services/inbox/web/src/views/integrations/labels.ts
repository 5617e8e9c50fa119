// Catalogue keys of the API token scopes and webhook event types (the server's codes).
export const SCOPE_KEYS: Record<string, string> = {
  "conversations:read": "integrations.scopeNames.conversations",
  "messages:read": "integrations.scopeNames.messages",
  "customers:read": "integrations.scopeNames.customers",
  "agents:read": "integrations.scopeNames.agents",
  "queues:read": "integrations.scopeNames.queues",
  "kpis:read": "integrations.scopeNames.kpis",
};

export const EVENT_KEYS: Record<string, string> = {
  "conversation.created": "integrations.eventNames.conversationCreated",
  "conversation.assigned": "integrations.eventNames.conversationAssigned",
  "conversation.resolved": "integrations.eventNames.conversationResolved",
  "message.created": "integrations.eventNames.messageCreated",
  "survey.answered": "integrations.eventNames.surveyAnswered",
};
