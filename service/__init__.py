"""focusqc.service."""
