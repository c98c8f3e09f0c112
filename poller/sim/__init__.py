"""Simulated SNMP agents: snmprec data, synthetic ISP devices, and a lean responder."""
