"""Lyric attention: attention over CLIP features of the lyrics (its words or tokens), queried by genre and sound."""
