// Catalogue keys of the audit trail's actions (the server's codes) and outcomes.
export const ACTION_KEYS: Record<string, string> = {
  "auth.login": "audit.actions.login",
  "auth.login_failed": "audit.actions.loginFailed",
  "auth.force_logout": "audit.actions.forceLogout",
  "agent.force_state": "audit.actions.forceState",
  "conversation.transfer": "audit.actions.transfer",
  "conversation.reassign": "audit.actions.reassign",
  "customer.merge": "audit.actions.merge",
  "kb.create": "audit.actions.kbCreate",
  "kb.update": "audit.actions.kbUpdate",
  "kb.delete": "audit.actions.kbDelete",
  "qa.sample": "audit.actions.qaSample",
  "qa.evaluation.submit": "audit.actions.qaSubmit",
  "qa.evaluation.acknowledge": "audit.actions.qaAcknowledge",
  "qa.evaluation.dispute": "audit.actions.qaDispute",
  "qa.evaluation.resolve": "audit.actions.qaResolve",
  "qa.calibration.open": "audit.actions.qaCalibration",
  "call.supervise": "audit.actions.callSupervise",
  "export.report": "audit.actions.exportReport",
  "export.audit": "audit.actions.exportAudit",
  "config.change": "audit.actions.configChange",
  "customer.erase": "audit.actions.customerErase",
  "customer.export": "audit.actions.customerExport",
  "wfm.shift.set": "wfm.auditShiftSet",
  "wfm.shift.remove": "wfm.auditShiftRemove",
};

export const OUTCOME_KEYS: Record<string, string> = {
  ok: "audit.outcomes.ok",
  refused: "audit.outcomes.refused",
  partial: "audit.outcomes.partial", // an erasure some service has not finished yet
};
