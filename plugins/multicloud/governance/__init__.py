"""Governance over the whole estate: at-rest residency audit, collection of every capability's
state (drift, served versions, cost, DR), and the governance report (HTML with charts + JSON)."""
