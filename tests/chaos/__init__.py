"""Crash tests: the real bot in its own process, killed and restarted under a scripted workload."""
