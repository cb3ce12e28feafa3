"""HTTP entry points. Each webhook authenticates first, parses strictly, and answers 403 (bad
signature), 400 (malformed) or 200 (valid, even if unknown); never 500 for client input."""
