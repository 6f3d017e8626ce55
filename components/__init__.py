"""Reusable ComponentResources. They take validated model objects; only __main__.py reads stack config."""
