"""Notification records (reminders, escalation and webhooks arrive with their issue)."""
