"""The terminal front end: chat, trivia and story over the same services as ``bot.discord``.

``chat`` is the console (``python -m bot console``), ``trivia`` and ``story`` the games in it (also run alone by
``python -m bot trivia play`` and ``python -m bot story play``), ``input`` the keyboard, ``cli`` the ``trivia``
command line. Import the modules themselves: this package imports nothing, so ``python -m bot ask`` stays light.
"""

__all__: list[str] = []
