"""The navigation task: its rules and reward table (:mod:`.rules`), reading and grading a reply (:mod:`.checker`),
the agent's progress along its rail (:mod:`.navigation`) and the paper's per-step accuracy (:mod:`.metrics`).

The task knows nothing of how a street view is drawn or where a route came from.
"""
