"""LAG datasets: the original pickle (read safely), our native folder format, the bundled sample."""
