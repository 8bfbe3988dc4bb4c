"""Cross-cutting API pieces: parsing, errors, pagination, schema."""
