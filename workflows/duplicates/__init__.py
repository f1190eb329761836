"""Possible duplicates: the same person or event reported by several citizens, found when a
ticket is filed (`lookup`), scored by text (`trigrams`), and joined into one worked case by an
officer (`Casework.link_duplicate`)."""
