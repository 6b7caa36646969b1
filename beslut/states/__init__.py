"""The domain: machines, rules, allocation and calendar. Pure: no I/O, no clock."""
