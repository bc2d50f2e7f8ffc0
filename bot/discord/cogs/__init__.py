"""One extension per feature."""

__all__: list[str] = []
