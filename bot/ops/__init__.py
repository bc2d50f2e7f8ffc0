"""Running the bot at scale: the /healthz and /metrics endpoints, and JSON log lines with their context.

``bot.ops.metrics`` imports prometheus-client, so it is imported only when ``METRICS_PORT`` is set.
"""
