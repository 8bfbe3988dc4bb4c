"""Reliability tests: the service under real faults (outages, crashes, shutdowns, hung backends)."""
