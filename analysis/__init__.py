"""Language identification of text, drift metrics, causal validation, plots and reports."""
