"""mixtures: dedup, decontamination, quality filters, difficulty, the mixture planner and exports."""
