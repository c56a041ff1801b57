"""Building and publishing index generations: planning, the catalog (SQLite, FTS5), the dense index, caches."""
