"""Shared runtime for omnihub services: subjects, bus, config, health, logging and errors."""
