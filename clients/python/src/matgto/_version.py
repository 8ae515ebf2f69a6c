"""Version of the matgto Python client (read by setup tools without importing)."""

__version__ = "0.1.0"
