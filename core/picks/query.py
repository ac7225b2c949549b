"""Words and mood: a free-text query read against the canonical style and genre vocabulary ("dark ambient for late
nights" → the Dark Ambient style), plus a small documented mood lexicon for words no style carries."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from core.domain.release import Release, norm_text
from core.ingest import vocab

_word = re.compile(r"[^\W_]+")

#: mood and occasion words → styles that commonly carry them (a starting lexicon, matched as whole words; a style
#: named in the query always wins over these)
MOODS: dict[str, tuple[str, ...]] = {
    "upbeat": ("Disco", "Funk", "House", "Soul", "Synth-pop"),
    "party": ("Disco", "House", "Funk", "Euro House"),
    "dance": ("House", "Disco", "Techno", "Electro"),
    "danceable": ("House", "Disco", "Techno", "Electro"),
    "chill": ("Downtempo", "Ambient", "Trip Hop", "Chillwave"),
    "relaxing": ("Ambient", "Downtempo", "Easy Listening"),
    "calm": ("Ambient", "Modern Classical", "Downtempo"),
    "dark": ("Dark Ambient", "Darkwave", "Industrial", "Goth Rock"),
    "gloomy": ("Darkwave", "Goth Rock", "Dark Ambient"),
    "melancholic": ("Slowcore", "Darkwave", "Shoegaze"),
    "sad": ("Slowcore", "Folk", "Ballad"),
    "heavy": ("Heavy Metal", "Doom Metal", "Sludge Metal"),
    "aggressive": ("Hardcore", "Thrash", "Punk"),
    "angry": ("Hardcore", "Punk", "Thrash"),
    "dreamy": ("Dream Pop", "Shoegaze", "Ambient"),
    "psychedelic": ("Psychedelic Rock", "Psychedelic"),
    "trippy": ("Psychedelic Rock", "Psychedelic", "Trip Hop"),
    "sunday": ("Soul", "Jazz-Funk", "Bossa Nova", "Folk"),
    "morning": ("Folk", "Acoustic", "Bossa Nova", "Soul"),
    "groovy": ("Funk", "Jazz-Funk", "Soul", "Disco"),
    "romantic": ("Soul", "Rhythm & Blues", "Ballad"),
    "epic": ("Prog Rock", "Symphonic Rock", "Post Rock"),
    "energetic": ("Punk", "Drum n Bass", "Big Beat", "Hard Rock", "Electro"),
    "happy": ("Synth-pop", "Disco", "Soul", "Power Pop"),
}

#: mood words that a record's sound answers where it was heard (core/audio: valence and arousal, 0..1); the
#: styles above stand in where it was not
SOUND_MOODS: dict[str, tuple[str, float, float]] = {   # word → (which, lowest, highest)
    "calm": ("arousal", 0.0, 0.4),
    "relaxing": ("arousal", 0.0, 0.4),
    "chill": ("arousal", 0.0, 0.45),
    "energetic": ("arousal", 0.6, 1.0),
    "party": ("arousal", 0.55, 1.0),
    "dark": ("valence", 0.0, 0.35),
    "gloomy": ("valence", 0.0, 0.35),
    "sad": ("valence", 0.0, 0.35),
    "melancholic": ("valence", 0.0, 0.4),
    "happy": ("valence", 0.6, 1.0),
    "upbeat": ("valence", 0.55, 1.0),
}


@lru_cache(maxsize=1)
def _phrases() -> list[tuple[tuple[str, ...], str, str]]:
    """(words, canonical name, 'style'|'genre'), longest first so "dark ambient" beats "ambient"."""
    out = []
    for kind, names in (("style", vocab.styles()), ("genre", vocab.genres())):
        for name in names:
            words = tuple(_word.findall(norm_text(name).replace("&", " and ")))
            if words:
                out.append((words, name, kind))
    out.sort(key=lambda p: (-len(p[0]), p[2] != "style"))
    return out


@dataclass
class QueryIntent:
    text: str
    styles: list[str] = field(default_factory=list)     # named in the words
    genres: list[str] = field(default_factory=list)
    moods: dict[str, list[str]] = field(default_factory=dict)   # mood word → the styles it stands for
    #: releases whose heard sound fits the mood words, with how ("sounds calm: 72 beats a minute, energy 20 %")
    by_sound: dict[int, str] = field(default_factory=dict)

    @property
    def sound_moods(self) -> list[str]:
        """The mood words a record's sound can answer (only when no style is named: a style always wins)."""
        return [] if (self.styles or self.genres) else [m for m in self.moods if m in SOUND_MOODS]

    def sound_fits(self, features: dict) -> bool:
        """Whether a heard sound fits every sound mood word of the query."""
        for m in self.sound_moods:
            which, lo, hi = SOUND_MOODS[m]
            v = features.get(which)
            if v is None or not (lo <= float(v) <= hi):
                return False
        return True

    @property
    def tags(self) -> set[str]:
        """Every style or genre a matching pick should carry."""
        out = set(self.styles) | set(self.genres)
        if not out:
            out = {s for ss in self.moods.values() for s in ss}
        return out

    def matches(self, r: Release) -> list[str]:
        """The query's styles and genres that ``r`` carries (empty: it matches only by meaning)."""
        tags = self.tags
        return [t for t in [*r.styles, *r.genres] if t in tags]

    def explain(self, r: Release) -> str:
        """How ``r`` matches the words, in one line."""
        if r.id in self.by_sound:
            return f"matches “{self.text}”: {self.by_sound[r.id]}"
        hit = self.matches(r)
        named = [t for t in hit if t in self.styles or t in self.genres]
        if named:
            return f"matches “{self.text}”: {', '.join(dict.fromkeys(named))}"
        if hit:
            moods = [m for m, ss in self.moods.items() if set(ss) & set(hit)]
            return f"matches “{self.text}”: {', '.join(dict.fromkeys(hit))} ({'/'.join(moods)} mood)"
        return f"close in meaning to “{self.text}”"


def read_query(text: str) -> QueryIntent:
    """Find vocabulary styles and genres (longest phrase first, each word used once) and mood words in ``text``."""
    words = _word.findall(norm_text(text).replace("&", " and "))
    used = [False] * len(words)
    intent = QueryIntent(text=text.strip())
    for phrase, name, kind in _phrases():
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i:i + n]) == phrase and not any(used[i:i + n]):
                used[i:i + n] = [True] * n
                (intent.styles if kind == "style" else intent.genres).append(name)
                break
    known = set(vocab.styles())
    for i, w in enumerate(words):
        if not used[i] and w in MOODS:
            intent.moods[w] = [s for s in MOODS[w] if s in known]
    return intent
