"""Review: the graph of match decisions, proposals of what to review next, individuals."""
