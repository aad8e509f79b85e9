"""Glimpse: the pipeline stages (one module per DVC stage) and the code they share."""
