"""Who speaks and what they know: the fact base, the personas and the grounded responder."""

__all__: list[str] = []
