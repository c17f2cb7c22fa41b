"""What generation announces, for the parts above it to act on: generation imports none of
them (labeling listens, annotate/labeling/receivers.py)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with run=<Run> once a run has ended with its work done (completed, or completed with
# errors), after the transaction that ended it commits.
run_finished = Signal()

# Sent with run=<Run> once a run has failed as a whole (its backend could not start, a provider
# batch could not be submitted; run.error says why), after the transaction commits. Apart from
# run_finished, whose receivers take a run's work as done (projects' tasks, judges' labels).
run_failed = Signal()
