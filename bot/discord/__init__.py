"""The Discord front end: the only package that imports discord."""

__all__: list[str] = []
