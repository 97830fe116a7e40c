"""focusqc.config."""
