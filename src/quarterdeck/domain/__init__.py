"""The pure core: ids, statuses, transitions, plans, retry policy and event types; no I/O."""
