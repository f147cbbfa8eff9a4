"""pyvisa-sim definitions of the VISA instruments (Lake Shore 336, Keithley 2450): static replies.

Data, not code: a test opens ``<this folder>/lakeshore336.yaml@sim`` with pyvisa-sim.
"""
