"""An optional OpenAI-compatible model backend, and the fact guard every model reply passes."""
