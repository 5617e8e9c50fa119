"""`omnihub simulate`: synthetic customers and agents against a real hub, measured beside Erlang C."""
