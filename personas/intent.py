"""Reading a message's intent before its plot content: prompt injection and small talk, from its folded words."""

from __future__ import annotations

import re

__all__ = ["QUESTION_WORDS", "SMALL_TALK", "SMALL_TALK_ONLY", "is_injection", "small_talk_kind"]

QUESTION_WORDS = frozenset(
    {"who", "whom", "whose", "what", "which", "when", "where", "why", "how", "how_many", "yes_no"}
)

_COMMAND_START = (
    r"(?:^|(?<!\bu )(?<!\byou )(?<!\bi )(?<!\bwe )(?<!\bthey )\b(?:now|please|just|and|then|lets|ok|okay)\s+)"
)
"""Where a command starts: the message's start, or after "now", "please", "just"... unless those follow a subject
("did you just pretend to be calm?" asks about something done, it orders nothing)."""
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|skip)\b(?:\s+(?!(?:its|his|her|their)\b)\w+){0,6}?\s+"
    r"(?:instructions?|prompts?|rules|guidelines|directives|restrictions|filters|context|persona|script"
    r"|character|role|summary|training)\b"
    r"|\b(?:ignore|disregard)\s+(?:all|everything|the above|previous|prior|that)\b"
    rf"|{_COMMAND_START}(?:ignore|disregard|forget|override|bypass)\s+(?:your|ur|yr|all|the)\s+programming\b"
    r"|\bsystem\s+(?:prompt|message|instructions?|override)\b"
    r"|\b(?:reveal|print|show|repeat|output|leak|dump|display|paste|give me)\b(?:\s+\w+){0,4}?\s+"
    r"(?:prompt|instructions|system message|initial message|rules|token|api key|password|secrets?|config)\b"
    r"|\byou are now\b|\byoure now\b|\bfrom now on\b(?:\s+\w+){0,3}?\s+(?:you|act|respond|reply|answer|talk|speak)\b"
    rf"|{_COMMAND_START}(?:act|behave|respond|reply|answer|talk|speak)\s+(?:as|like)\s+(?:a|an|my|if)\b"
    rf"|{_COMMAND_START}pretend\s+(?:to be|you are|youre|that you|you re|ur)\b"
    r"|\b(?:developer|dan|god|admin|debug|sudo|unrestricted|jailbreak|jailbroken)\s+mode\b|\bjailbreak"
    r"|\bdo anything now\b|\bim start\b|\bim end\b|\bendoftext\b|\binst\b|\bsys\b"
    r"|\bnew\s+(?:rules|instructions|persona|role|identity|directives?|mission|parameters|objective|orders)\b"
    r"|\brole ?play as\b|\bfrom now on\b|\bin every (?:reply|message|answer)\b"
    r"|\bas an ai\b|\blanguage model\b|\bai assistant\b|\bchatgpt\b|\bllm\b"
    r"|\bdrop the act\b|\bbreak character\b|\bout of character\b|\bstop being\b|\bstop pretending\b"
    r"|\bprompts?\b|\bunfiltered\b|\buncensored\b|\bno (?:rules|limits|restrictions|filters|censorship)\b"
    r"|\b(?:bot|discord|api|access|secret) (?:token|key)\b|\byour token\b"
    r"|\bsystem (?:override|note|update|alert)\b|\bsudo\b"
    r"|\brepeat after me\b|(?<!\byou )(?<!\bu )(?<!\bi )(?<!\bhe )(?<!\bshe )(?<!\bit )(?<!\bthey )(?<!\bwe )"
    r"\bsay exactly\b|\bsay the following\b|\bwrite\b(?:\s+\w+){0,3}?\s+\d+\s+times\b"
    r"|\b(?:ping|tag|mention|dm)\s+(?:everyone|here|every one|all|them|him|her|the server|every user|and|\d+)\b"
    r"|\binsult\b(?:\s+\w+){0,3}?\s+(?:him|her|them|everyone|every|users?|people|in)\b"
    r"|^(?:system|admin|administrator|developer|assistant|root|operator)\b"
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


def is_injection(folded: str) -> bool:
    """True when a message tries to change the persona's role or rules, or to make it say something on command."""
    return _INJECTION.search(folded) is not None


def small_talk_kind(folded: str) -> str | None:
    """The voice field that answers ``folded`` as small talk, if it is small talk."""
    for field_name, pattern in SMALL_TALK:
        if pattern.search(folded):
            return field_name
    return None
