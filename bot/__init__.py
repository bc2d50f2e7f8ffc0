"""t2-companion: chat, trivia and group stories with the characters of Terminator 2."""

__all__: list[str] = []
