"""KPI test vectors: event streams and the figures they must produce."""
