"""Commands of this concern; filled in by its module."""

COMMANDS: list = []
