"""Timers, reminders, escalations and the digest; the outbox, its notifiers, and the daemon that fires them."""
