"""focusqc.models.sim."""
