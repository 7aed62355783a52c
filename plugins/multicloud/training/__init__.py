"""Model training inside one jurisdiction: data loading, fitting (train.py), artifacts + cards (artifacts.py)."""
