"""Workforce management: forecasts, staffing requirements, schedules, adherence and intraday."""
