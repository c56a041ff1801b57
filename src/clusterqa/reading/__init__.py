"""Finding files and turning each format into a Document with located blocks, then into passages."""
