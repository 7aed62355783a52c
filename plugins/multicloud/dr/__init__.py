"""Disaster-recovery rehearsals: fault injection, traffic steering, probing, RTO/RPO scoring.

Pure parts: ``scoring`` and ``report`` rendering. Adapters: ``ledger`` (state file), ``faults``
(cluster drivers, storage), ``gateway``/``steering`` (traffic), ``probe`` (a sampling process),
``preflight`` (health, capacity, replica lag, OCI network), ``rehearsal`` (the DAG's step functions).
"""
