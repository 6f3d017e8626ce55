"""Phases 1–7 and the wiring of the whole platform: catalogue → components → phase gates."""
