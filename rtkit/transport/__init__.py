"""rtkit.transport."""
