"""Model serving: the JSON model format (model.py) and the stdlib HTTP model server (server.py)."""
