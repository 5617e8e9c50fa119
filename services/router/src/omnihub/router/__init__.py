"""omnihub router: the ACD."""
