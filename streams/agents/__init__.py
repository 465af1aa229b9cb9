"""Agents: each wires one stage of the pipeline to its domain function in `contingency/`."""
