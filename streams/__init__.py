"""The Faust application: topics, agents, tables, timers and the `ers` command line."""
