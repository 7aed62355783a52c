"""Progressive model rollout: planning (planner), health gates (gates + probes), the per-cluster
steps and their journal (engine), and the runtime baseline with its drift check (baseline)."""
