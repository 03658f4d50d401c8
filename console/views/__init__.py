"""Console views, one module per feature."""
