"""Presentation: what the command line and report files show (plan summary, drill report HTML, coverage map)."""
