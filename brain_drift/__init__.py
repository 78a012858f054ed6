"""BRAIN's drift monitor: per-session signal features of recent sessions compared with the
champion's training sessions (Evidently), status pushed to an Uptime Kuma push monitor."""
