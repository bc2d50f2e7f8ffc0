"""A loopback OpenAI-compatible server for tests: ``/v1/chat/completions`` (plain and streamed as server-sent events)
and ``/v1/models``, answering each request with a scripted behaviour.

    async with ModelTwin() as model:
        model.script(grounded("August 29, 1997. That's Judgment Day.", ["f-judgment-day-date"]))
        ...  # point LLM_BASE_URL at model.base_url
        assert model.requests[0].json["model"] == "twin-model"

Behaviours (``tests.modeltwin.behaviours``): ``grounded(reply, fact_ids)`` (the JSON the prompt asks for),
``plain(text)`` (free text, as a server with no structured output gives), ``malformed()``, ``status(429 | 500)``,
``hang(seconds)``, ``cut(after_chars)`` (a stream that stops mid-reply), ``slow(behaviour, chunk_delay_s)`` (a stream
that takes its time), ``refuse_structured(then)`` (400 on ``response_format``, as servers without JSON mode do, then
``then`` for the retry). Unscripted requests get
``default`` (a grounded reply citing the first fact id the prompt lists).
"""

from tests.modeltwin.behaviours import (
    Behaviour,
    cut,
    grounded,
    hang,
    malformed,
    plain,
    refuse_structured,
    slow,
    status,
)
from tests.modeltwin.server import ModelTwin, RecordedCompletion

__all__ = [
    "Behaviour",
    "ModelTwin",
    "RecordedCompletion",
    "cut",
    "grounded",
    "hang",
    "malformed",
    "plain",
    "refuse_structured",
    "slow",
    "status",
]
