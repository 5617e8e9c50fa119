"""omnihub inbox: the agents' unified inbox and the supervisors' wallboard."""
