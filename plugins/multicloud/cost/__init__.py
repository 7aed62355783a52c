"""Cost: price catalog, cost collection, the placement model, optimiser, greedy baseline, apply, report."""
