"""Understanding a chat message: normalise -> address -> analyse -> retrieve -> decide (one module each)."""
