"""Deadlines and (in a later issue) the daemon that fires them."""
