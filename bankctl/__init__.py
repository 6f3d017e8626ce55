"""bankctl: the command-line tool of the Totara Bank platform (plan, gate, config)."""
