"""Logs, request ids and health endpoints."""
