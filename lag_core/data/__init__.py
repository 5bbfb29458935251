"""LAG datasets: the original pickle (read safely), our native folder format, the bundled sample."""

GENRES = ("metal", "pop", "rnb", "rap")  # genreIdx order of the LAG release: metal 0, pop 1, rnb 2, rap 3
