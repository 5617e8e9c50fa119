"""omnihub quality: the system of record for outcomes and KPIs."""
