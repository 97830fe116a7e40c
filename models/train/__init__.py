"""Training, behind the ``train`` extra (torch): never imported by the service."""
