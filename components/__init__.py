"""Reusable ComponentResources: they take model objects and never read pulumi.Config()."""
