"""The rule engine as it was before it was rewritten for speed (issue 14), frozen as an oracle: the property test
in test_engine_equivalence.py checks that the engine gives the same detections and the same state on any input.
Not used by ERS; delete it together with that test once the rewrite has lived a while."""
