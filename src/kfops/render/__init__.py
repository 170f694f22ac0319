"""Diagnosis → terminal, JSON, Markdown. Every renderer starts from the redacted document."""
