"""Fault injection for the claim that no acknowledged message is ever lost: private services, product
processes pointed at them, numbered QoS 1 streams, and one fault each (docs/faults.md)."""
