"""Cross-cutting defences: authorisation enforcement, request limits, error handling."""
