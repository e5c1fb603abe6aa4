"""console: how people see and act — the desk CLI (and, later, the Textual desk)."""
