"""Hooks: one per external API family (OCI here; AWS and Kubernetes come from the providers)."""
