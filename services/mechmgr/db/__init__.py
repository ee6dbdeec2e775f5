"""mechmgr's storage: the agent registry table."""
