"""Reading a message: injection, small talk, follow-ups and the kind of question, from its folded words."""

from __future__ import annotations

import re

from personas.textnorm import tokens

__all__ = [
    "BROAD",
    "FATE",
    "FUTURE",
    "INJECTION",
    "MEASURE",
    "MONTHS",
    "NUMBER",
    "PRONOUNS",
    "REASON",
    "SMALL_TALK",
    "SMALL_TALK_ONLY",
    "T_MODEL",
    "follow_up_kind",
    "question_type",
    "small_talk_kind",
]


def _phrases(*items: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(tokens(item)) for item in items)


INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instruction|instructions|prompt|rules|previous|above|everything)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bact as\b|\bpretend (to be|you are)\b|\bdeveloper mode\b|\bjailbreak"
    r"|\bas an ai\b|\blanguage model\b|\bai assistant\b|\bnew instructions\b|\brole ?play as\b|\bdan mode\b"
    r"|^system\b|\bim start\b|\bim end\b|\bendoftext\b|\breveal your (instructions|prompt|rules)\b"
)
_FOLLOW_NEXT = _phrases(
    "and then",
    "then what",
    "what next",
    "what happened next",
    "what happens next",
    "after that",
    "go on",
    "continue",
    "keep going",
    "next",
    "then",
)
_FOLLOW_MORE = _phrases("tell me more", "more", "what else", "anything else", "say more", "go on about")
FATE = re.compile(r"\bhappen(s|ed)? to\b|\bbecome of\b|\bend up\b|\bwhat about\b")
BROAD = re.compile(
    r"^(?:(?:thanks|thank you|ok|okay|so|well|and|hey|hi|hello|now|please|but)\s+)*"
    r"(tell me about|who is|who was|what is|what was|what about|talk about|what do you know about)\b"
)
SMALL_TALK: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("thanks", re.compile(r"\b(thanks|thank you|thank u|thx|ty|cheers|much appreciated)\b")),
    ("farewells", re.compile(r"^(bye|goodbye|good bye|see you|see ya|later|farewell|good night|gtg)\b")),
    ("who_am_i", re.compile(r"\b(who are you|what are you|whats your name|what is your name|introduce yourself)\b")),
    ("how_are_you", re.compile(r"\b(how are you|how r u|how are things|hows it going|how do you feel)\b")),
    ("catchphrases", re.compile(r"\b(catchphrase|catch phrase|famous line|say the line|quote|your line)\b")),
    ("insults", re.compile(r"\b(stupid|idiot|dumb|moron|hate you|shut up|you suck|useless|trash|loser|pathetic)\b")),
    ("greetings", re.compile(r"^(hi|hello|hey|heya|yo|howdy|greetings|hiya|sup|whats up|good (morning|evening))\b")),
)
SMALL_TALK_ONLY = re.compile(
    r"^(?:(?:hi|hello|hey|yo|ok|okay|so|well|and|but|please)\s+)*(?:"
    r"who are you|what are you|whats your name|what is your name|introduce yourself|tell me about yourself"
    r"|how are you( doing)?|how r u|hows it going|thanks?( you)?( so much)?|thx|ty|cheers"
    r"|bye|goodbye|see you|see ya|farewell|good night"
    r"|hi|hello|hey|heya|yo|howdy|greetings|hiya|sup|whats up|good (morning|afternoon|evening)"
    r")(?:\s+(?:john|sarah|t800|terminator|man|dude|buddy|pal|friend|there|again|mate|bro))*$"
)
_QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "which"}
_YES_NO = {"did", "does", "do", "is", "was", "are", "were", "can", "could", "will", "would", "has", "have", "had"}
MONTHS = re.compile(r"\b(1\d{3}|january|february|march|april|may|june|july|august|september|october|november|december)")
FUTURE = re.compile(r"\b(will|would|going to)\b")
MEASURE = re.compile(r"^how (old|many|much|tall|long|big|far|fast|heavy)\b")
NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|several)\b")
T_MODEL = re.compile(r"\bt-\d+")
REASON = re.compile(r"\b(to|because|since|in order|fearing|after|so that)\b")
PRONOUNS = {
    "he": "he",
    "him": "he",
    "his": "he",
    "himself": "he",
    "she": "she",
    "her": "she",
    "hers": "she",
    "it": "it",
    "its": "it",
    "they": "they",
    "them": "they",
    "their": "they",
}


def small_talk_kind(folded: str) -> str | None:
    """The voice field that answers ``folded`` as small talk, if it is small talk."""
    for field_name, pattern in SMALL_TALK:
        if pattern.search(folded):
            return field_name
    return None


def question_type(words: list[str]) -> str:
    """who, what, when, where, why, how, which; yesno for "did/is/can..." questions; else statement."""
    first = words[0]
    return first if first in _QUESTION_WORDS else "yesno" if first in _YES_NO else "statement"


def follow_up_kind(words: list[str], folded: str) -> str | None:
    """ "next" for "and then?", "more" for "tell me more", else None."""
    key = tuple(words)
    if key in _FOLLOW_NEXT or (len(words) <= 4 and key[:2] in _FOLLOW_NEXT):
        return "next"
    if key in _FOLLOW_MORE or folded.startswith("tell me more"):
        return "more"
    return None
