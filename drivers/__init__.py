"""focusqc.drivers."""
