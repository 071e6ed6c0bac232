"""The paper experiments, replicated: their claims, checked against the committed leaderboards.

The only part of ``bench/`` that names the papers' experiments. ``synth2seg replicate`` writes
``leaderboards/REPLICATION.md`` from ``claims.yaml`` (the papers' figures) and the leaderboard
folders alone, so the file cannot hold a number no committed file holds.
"""
