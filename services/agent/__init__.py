"""L2 agents: for now the simulated agent that registers with mechmgr and keeps alive."""
