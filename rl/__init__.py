"""The GRPO loop, its rewards, difficulty filtering and drift tracking."""
