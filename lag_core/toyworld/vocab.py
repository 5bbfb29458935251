"""The toy world's words: content motifs with looks, genre phrases, and lyric-like sentences.

One place for every word the toy world knows. A motif is a colour family of the foreground;
its word forms are what lyrics say for it. `TRAIN_FORMS` appear in the bundled sample (which
lyric attention trains on), `HELDOUT_FORMS` only in the held-out evaluation lines; the toy CLIP's
captions teach all of them (a word the CLIP never saw has no look). Filler words carry no look:
they occur with every motif and every genre.
"""

from __future__ import annotations

import functools
import itertools

from ..options import GENRE_TEMPLATE, GENRES

# motif -> (foreground colour, word forms of the bundled sample, held-out word forms)
MOTIFS = {
    "fire": ((245, 130, 20), ("fire", "flames", "burning"), ("blaze",)),
    "ocean": ((30, 140, 235), ("ocean", "sea", "waves"), ("tide",)),
    "sun": ((245, 225, 40), ("sun", "sunlight", "summer"), ("sunshine",)),
    "forest": ((40, 180, 60), ("forest", "leaves", "trees"), ("grass",)),
    "snow": ((248, 248, 248), ("snow", "ice", "frozen"), ("winter",)),
    "blood": ((210, 20, 30), ("blood", "rose", "heart"), ("roses",)),
    "night": ((140, 60, 215), ("night", "moon", "stars"), ("midnight",)),
    "candy": ((250, 125, 200), ("candy", "sugar", "sweet"), ("bubblegum",)),
}
MOTIF_NAMES = tuple(MOTIFS)
MOTIF_RGB = {m: v[0] for m, v in MOTIFS.items()}
TRAIN_FORMS = {m: v[1] for m, v in MOTIFS.items()}
HELDOUT_FORMS = {m: v[2] for m, v in MOTIFS.items()}
ALL_FORMS = {m: TRAIN_FORMS[m] + HELDOUT_FORMS[m] for m in MOTIFS}
FORM_TO_MOTIF = {w: m for m, forms in ALL_FORMS.items() for w in forms}

GENRE_PHRASES = {g: [GENRE_TEMPLATE.format(genre=g), f"{g} style", f"a {g} cover", f"{g} music"] for g in GENRES}

# Filler: words of lyrics that name no look (no colours, no light, no weather).
FILLER = ("i", "you", "we", "they", "the", "a", "my", "your", "our", "in", "on", "through", "under", "into",
          "with", "and", "of", "to", "all", "never", "again", "tonight", "baby", "love", "hold", "run", "dance",
          "feel", "walk", "fall", "dream", "alone", "together", "city", "road", "home", "time", "forever", "down",
          "away", "back", "now", "we're", "gonna", "can't", "stop", "voice", "hands", "eyes", "soul",
          "world", "radio", "street", "train", "kiss", "cry", "lost", "found", "wild")

# Sentence frames for the toy CLIP's captions ({w}: the motif word). The bundled sample and the
# held-out set use frames of their own (data/sample.py), never these.
CAPTION_FRAMES = (
    "{w}", "the {w}", "something {w}", "{w} all around", "i see the {w}", "we run into the {w}",
    "{w} in my eyes tonight", "you and me and the {w}", "hold on to the {w}", "lost in the {w} again",
    "all i want is {w}", "baby the {w} is calling", "{w} on the radio", "down the road there is {w}",
    "we dance in the {w} forever", "never let the {w} go", "i feel {w} in my soul",
)


COMMON_WORDS = 10_000  # the BPE vocabulary's most frequent whole words, as more filler


@functools.lru_cache(maxsize=1)
def common_words() -> tuple[str, ...]:
    """Filler drawn from the toy CLIP's own tokenizer: the first `COMMON_WORDS` lower-case whole-word
    tokens of its vocabulary (single letters, then the BPE's merges, most frequent first), less the
    motif forms and the genre phrases' words. Captions that hold them teach
    the CLIP that a word outside the vocabulary has no look; with `FILLER` alone, a word it never saw
    ("us", "when" in the held-out lines) kept a random embedding that lyric attention could pick."""
    from open_clip.tokenizer import SimpleTokenizer

    taken = set(FORM_TO_MOTIF) | {w for phrases in GENRE_PHRASES.values() for p in phrases for w in p.split()}
    words = (t[:-4] for t in SimpleTokenizer().encoder if t.endswith("</w>") and t[:-4].isascii() and t[:-4].isalpha() and t[:-4].islower())
    return tuple(itertools.islice((w for w in words if w not in taken), COMMON_WORDS))


def random_line(word: str, rng) -> str:
    """A lyric-like caption with `word` somewhere: a frame, or filler words around it (from `FILLER`
    and, one in two, from the tokenizer's common words)."""
    if rng.random() < 0.5:
        return CAPTION_FRAMES[int(rng.integers(len(CAPTION_FRAMES)))].format(w=word)
    n = int(rng.integers(2, 9))
    common = common_words()
    words = [FILLER[int(rng.integers(len(FILLER)))] if rng.random() < 0.5 else common[int(rng.integers(len(common)))]
             for _ in range(n)]
    words.insert(int(rng.integers(n + 1)), word)
    return " ".join(words)


def motif_of_line(line: str) -> str | None:
    """The motif a line names (its first word form), or None."""
    word = motif_word_of_line(line)
    return None if word is None else FORM_TO_MOTIF[word]


def motif_word_of_line(line: str) -> str | None:
    """The first motif word form in a line, or None."""
    for token in line.lower().replace(",", " ").split():
        if token.strip(".!?'\"") in FORM_TO_MOTIF:
            return token.strip(".!?'\"")
    return None


def pick(seq, rng):
    return seq[int(rng.integers(len(seq)))]


