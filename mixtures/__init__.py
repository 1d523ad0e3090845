"""mixtures: dedup, decontamination, quality filters, difficulty and the planner
(arrives with its own issue)."""
