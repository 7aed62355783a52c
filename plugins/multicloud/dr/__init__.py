"""Disaster-recovery rehearsals: fault injection, traffic steering, probing, RTO/RPO scoring.

Pure parts: ``scoring`` and ``report`` rendering. Adapters: ``ledger`` (state file), ``faults``
(cluster drivers, storage), ``gateway``/``steering`` (traffic), ``probe`` (a sampling process),
``preflight`` (health, capacity, replica lag, OCI network), ``rehearsal`` (the DAG's step functions),
``health`` (active health checks: the gateway fails over by itself and writes a signal),
``failover`` (what the event-driven ``dr_failover`` DAG does), ``write_targets`` (where writes go).
"""
