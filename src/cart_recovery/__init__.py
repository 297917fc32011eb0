"""Cart recovery: wins back shoppers who left a full cart."""

__version__ = "0.1.0"
