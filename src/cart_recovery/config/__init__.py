"""config."""


class SettingsError(ValueError):
    """A setting is missing or wrong: the message names the key and where it came from."""
