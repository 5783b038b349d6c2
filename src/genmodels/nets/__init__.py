"""Network blocks shared by models."""
