"""omnihub email channel."""
