"""What listening adds up to, one module per report: the theme table (themes.py, the mandate),
the follow-up pipeline (pipeline.py), who waits for a follow-up (follow_ups.py), answer lists
and exports (answers.py), and the digest's listening section (summary.py). CSV goes through
the one writer, storage/export.py.

Counting rules, shared by every view (scope.py):

* A person in two institutions counts in both rows (each institution listened to them); people
  in no institution have their own "No institution" row; totals count each person once.
* ``scope`` (a list of institution ids) is what a leader may see: only people in those
  institutions, and no "No institution" row. ``None`` is an organiser's view: everyone.
* Quotes come only from people who said yes to being followed up, and never carry a name.
"""
