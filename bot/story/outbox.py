"""Story posts as the outbox stores them: which places post through it, and posts to and from plain data."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.story.model import Post, Prompt

__all__ = ["discord_channel", "posts_from_payload", "posts_payload", "story_text"]

_CHANNEL_SCOPE = re.compile(r"channel:(\d+)")


def discord_channel(scope: str) -> int | None:
    """The channel id of a session played in a Discord channel or thread (scope ``channel:<id>``); None for a
    place whose front end prints at once (the console)."""
    match = _CHANNEL_SCOPE.fullmatch(scope)
    return int(match.group(1)) if match else None


def story_text(posts: Sequence[Post]) -> str:
    """The posts' text in one (for logs and the outbox's text column)."""
    return "\n\n".join(post.text for post in posts)


def posts_payload(posts: Sequence[Post]) -> dict[str, Any]:
    """The posts as JSON-ready data."""
    return {
        "posts": [
            {
                "text": post.text,
                "persona": post.persona,
                "title": post.title,
                "fact_ids": list(post.fact_ids),
                "prompt": None
                if post.prompt is None
                else {
                    "session_id": post.prompt.session_id,
                    "scene": post.prompt.scene,
                    "kind": post.prompt.kind,
                    "options": [list(option) for option in post.prompt.options],
                },
            }
            for post in posts
        ]
    }


def posts_from_payload(payload: Mapping[str, Any]) -> tuple[Post, ...]:
    """The posts ``posts_payload`` made data of."""
    posts = []
    for data in payload.get("posts", ()):
        prompt = data.get("prompt")
        posts.append(
            Post(
                str(data["text"]),
                data.get("persona"),
                data.get("title"),
                None
                if prompt is None
                else Prompt(
                    int(prompt["session_id"]),
                    int(prompt["scene"]),
                    str(prompt["kind"]),
                    tuple((str(option_id), str(label)) for option_id, label in prompt["options"]),
                ),
                tuple(data.get("fact_ids", ())),
            )
        )
    return tuple(posts)
