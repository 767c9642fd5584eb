"""A private Mosquitto broker for tests that need their own (auth, TLS, one to kill and restart): the one in
faults/procs.py, re-exported under the names the tests have always imported."""

from __future__ import annotations

from faults.procs import MosquittoBroker, mosquitto_binary

__all__ = ["MosquittoBroker", "mosquitto_binary"]
