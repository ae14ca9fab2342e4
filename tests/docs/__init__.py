"""The documentation in docs/: generated parts current, names real, examples running."""
