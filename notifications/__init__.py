"""Everything that leaves the system to tell a person something."""
