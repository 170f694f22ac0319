"""`kfops serve`: Slack, PagerDuty and Alertmanager surfaces over the same engine and gate.

Requests are acknowledged at once and worked from a bounded queue that coalesces duplicates;
results go back to where the request came from, under one run id.
"""
