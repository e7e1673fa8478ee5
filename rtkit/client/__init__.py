"""rtkit.client."""
