"""The organisers' daily digest and the leaders' chase nudges, in four steps that import one way:

* build.py: the numbers (``build_digest``: per action and institution, changes, quiet ones);
* render.py: as text (``render_text``, ``render_sms``, ``leader_draft``);
* chart.py: as a bar chart (``render_chart``, PNG);
* snapshots.py: each day's numbers kept, for tomorrow's "change since";
* plan.py: sending them (``plan_digests``, the periodic job).
"""
