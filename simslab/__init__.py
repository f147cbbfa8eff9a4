"""simslab: run ToF-SIMS measurement campaigns end to end."""
