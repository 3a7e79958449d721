"""Backtests: the event-driven engine (the same services as a live session on the deterministic
bus) and the vectorized parameter sweep."""
