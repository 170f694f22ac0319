"""Readers over a snapshot directory: offline diagnosis, postmortem replays and test fixtures."""
