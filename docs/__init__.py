"""Documentation and the code that generates parts of it (``python -m docs.generate``)."""
