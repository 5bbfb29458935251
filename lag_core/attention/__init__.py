"""Lyric attention: attention over CLIP token features of the lyrics, queried by genre and sound."""
