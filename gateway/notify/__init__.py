"""Notifications: who is told what, on which channel (``rules``), the outbox's delivery worker
(``worker``), the message texts (``render``) and the database-scheduled jobs (``jobs``:
tracking stopped, billing notices, retention). See docs/notifications.md."""
