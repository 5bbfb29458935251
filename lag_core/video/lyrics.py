"""Lyrics of a whole song -> timed lines: LRC (`[mm:ss.xx] line`) or plain lines.

LRC as players read it: several stamps before one line (a repeated chorus), `[mm:ss]`, `[mm:ss.x]`,
`[mm:ss.xxx]` and `[mm:ss:xx]` stamps, metadata tags (`[ar:...]`, `[ti:...]`, ...) ignored,
`[offset:+/-ms]` (positive: lines come earlier), enhanced LRC's per-word `<mm:ss.xx>` stamps
dropped, a UTF-8 BOM tolerated. One tag of our own that players ignore: `[genre:metal]` on its
own line sets the genre of the lines after it (until the next such tag).

A stamp with an empty line starts an instrumental part: it keeps the previous line's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError
from ..options import GENRES

STAMP = re.compile(r"\[(\d{1,4}):(\d{1,2})(?:[.:](\d{1,3}))?\]")  # up to 9999 minutes
TAG = re.compile(r"\[([A-Za-z#]+)\s*:([^\]]*)\]")
# What makes a text LRC: a line opening with something stamp-like (well-formed or not: a malformed
# stamp is then refused, not shown as words) or with one of LRC's own tags. Not "[Chorus: ...]":
# plain lyrics use such section headers.
LRC_START = re.compile(r"\[\s*[-+]?\d+\s*:|\[(?:ti|ar|al|au|by|re|ve|length|offset|genre|tool|#)\s*:", re.IGNORECASE)
SECTION = re.compile(r"\[[^\]]*\]")  # a plain line that is only "[Verse 1]" or "[Chorus: X]": not sung
MAX_CHARS = 1_000_000  # a song's lyrics are a few kB; a bigger text is not lyrics
WORD_STAMP = re.compile(r"<\d+:\d{1,2}(?:[.:]\d{1,3})?>")


@dataclass(frozen=True)
class TimedLine:
    time: float  # seconds from the start of the song
    text: str  # may be "" (an instrumental part)
    genre: str | None  # from a [genre:...] tag, or None


def _seconds(m: re.Match) -> float:
    minutes, secs, frac = int(m.group(1)), int(m.group(2)), m.group(3)
    if secs >= 60:
        raise ValueError("seconds must be below 60")
    return minutes * 60 + secs + (int(frac) / 10 ** len(frac) if frac else 0.0)


def is_lrc(text: str) -> bool:
    """Whether any line starts with a time stamp (or something meant as one) or an LRC tag."""
    return any(LRC_START.match(line.strip()) for line in text.lstrip("\ufeff").splitlines())


def parse_lrc(text: str, source: str = "lyrics") -> list[TimedLine]:
    """LRC text -> timed lines sorted by time. Refuses malformed, out-of-order and duplicate stamps."""
    text = text.lstrip("\ufeff")
    offset = 0.0
    genre: str | None = None
    lines: list[TimedLine] = []
    written: dict[int, tuple[float, float]] = {}  # id of a line -> its stamp as written, and the offset in force
    previous_first = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        stamps = []
        while line.startswith("["):
            m = STAMP.match(line)
            if m:
                try:
                    stamps.append(_seconds(m) - offset)
                except ValueError:
                    raise InputError(f"{source} line {number}: malformed time stamp '{m.group(0)}' (seconds must be "
                                     "below 60); write [mm:ss.xx]") from None
                line = line[m.end():].lstrip()
                continue
            tag = TAG.match(line)
            if tag and not stamps:
                key, value = tag.group(1).lower(), tag.group(2).strip()
                if key == "offset":
                    try:
                        offset = int(value) / 1000.0
                    except ValueError:
                        raise InputError(f"{source} line {number}: [offset:{value}] is not a whole number of "
                                         "milliseconds; write e.g. [offset:-250]") from None
                elif key == "genre":
                    genre = value.lower() or None
                    if genre is not None and genre not in GENRES:
                        raise InputError(f"{source} line {number}: unknown genre '{value}'; expected one of "
                                         f"{', '.join(GENRES)}")
                line = line[tag.end():].strip()
                break  # a tag line carries nothing else
            if not stamps and SECTION.fullmatch(line) and not LRC_START.match(line):
                line = ""  # a section header ("[Chorus]"): not sung, not a stamp
                break
            bad = re.match(r"\[[^\]]*\]?", line).group(0)
            bad = bad if len(bad) <= 24 else bad[:20] + "..."
            raise InputError(f"{source} line {number}: malformed time stamp '{bad}'; write [mm:ss.xx] (e.g. [01:02.50])")
        if not stamps:
            if line and not TAG.match(raw.strip()):
                raise InputError(f"{source} line {number}: '{line[:40]}' has no time stamp; in an LRC file every lyric "
                                 "line starts with [mm:ss.xx]")
            continue
        if previous_first is not None and stamps[0] <= previous_first:
            what = "duplicate" if stamps[0] == previous_first else "out-of-order"
            raise InputError(f"{source} line {number}: {what} time stamp {_fmt(stamps[0] + offset)} after "
                             f"{_fmt(previous_first + offset)}; stamps must increase from line to line")
        previous_first = stamps[0]
        words = " ".join(WORD_STAMP.sub(" ", line).split())
        for t in stamps:
            lines.append(TimedLine(max(0.0, t), words, genre))
            written[id(lines[-1])] = (t + offset, offset)
    lines.sort(key=lambda x: x.time)
    for a, b in zip(lines, lines[1:]):
        if a.time == b.time:
            (stamp_a, off_a), (stamp_b, off_b) = written[id(a)], written[id(b)]
            if a.time == 0.0 and max(off_a, off_b) > 0 and min(stamp_a - off_a, stamp_b - off_b) < 0:
                raise InputError(f"{source}: [offset:+{round(max(off_a, off_b) * 1000)}] moves the stamps {_fmt(stamp_a)} "
                                 f"and {_fmt(stamp_b)} to or before the start of the song; lower the offset")
            raise InputError(f"{source}: duplicate time stamp {_fmt(stamp_a)} ('{a.text[:30]}' and "
                             f"'{b.text[:30]}'); give each line its own time")
    if not any(line.text for line in lines):
        raise InputError(f"{source} has no lyric lines with words; give lines like [00:12.00] some words")
    return lines


def _fmt(seconds: float) -> str:
    return f"[{int(seconds // 60):02d}:{seconds % 60:05.2f}]"


def plain_lines(text: str, duration: float, source: str = "lyrics") -> list[TimedLine]:
    """Plain lines (no stamps) spread evenly over the song; section headers ("[Chorus]") left out."""
    words = [" ".join(line.split()) for line in text.lstrip("\ufeff").splitlines()]
    words = [w for w in words if w and not SECTION.fullmatch(w)]
    if not words:
        raise InputError(f"{source} is empty; give lyric lines (plain or LRC), or no lyrics at all")
    return [TimedLine(duration * i / len(words), w, None) for i, w in enumerate(words)]


def check_lyrics(text: str, source: str = "lyrics") -> list[TimedLine]:
    """The lyrics' own form, before the song's length is known (plain lines are timed over one second)."""
    if len(text) > MAX_CHARS:
        raise InputError(f"{source} is {len(text):,} characters, not lyrics (at most {MAX_CHARS:,}); give the song's "
                         "lyrics as LRC or plain lines")
    if not text.strip("\ufeff \t\r\n"):
        raise InputError(f"{source} is empty; give lyric lines (plain or LRC), or no lyrics at all")
    return parse_lrc(text, source) if is_lrc(text) else plain_lines(text, 1.0, source)


def timed_lines(text: str | None, duration: float, source: str = "lyrics") -> list[TimedLine] | None:
    """LRC or plain lyrics -> timed lines, checked against the song's duration; None without lyrics."""
    if text is None:
        return None
    lines = check_lyrics(text, source)
    if not is_lrc(text):
        lines = plain_lines(text, duration, source)
        if len(lines) > max(1.0, 2 * duration):
            raise InputError(f"{source}: {len(lines)} plain lines for {duration:.1f} s of audio, more than two a second; "
                             "give the song's own lyrics, or time them as LRC")
    late = [line for line in lines if line.time >= duration]
    if late:
        raise InputError(f"{source}: time stamp {_fmt(late[0].time)} ('{late[0].text[:30]}') is past the end of the "
                         f"audio ({_fmt(duration)}); fix the stamp or give the whole song")
    return lines
