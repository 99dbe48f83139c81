"""Training jobs: their model, the user-facing service and the worker-side lifecycle."""
