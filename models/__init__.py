"""focusqc.models."""
