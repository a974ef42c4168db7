"""Checks smpeval's metrics.json against the DuckDB figures of
bench/duckdb_figures.py: counts exactly, means and rates to 1e-9.

    python bench/compare_figures.py <metrics.json> <duckdb.json> [--no-notes]

Prints each disagreement with both values and a one-line verdict; exits 1 on
any disagreement.
"""

import json
import sys

TOL = 1e-9
m = json.load(open(sys.argv[1]))
dk = json.load(open(sys.argv[2]))


def row(rows, **match):
    for r in rows or []:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def smpeval_side(key):
    """The metrics.json object that the DuckDB figure `key` is compared with."""
    if key == "data_as_at":
        return m.get("data_as_at")
    if key == "activity.overall":
        return m["activity"]["overall"]
    if key.startswith("activity.by_provider["):
        return row(m["activity"]["by_provider"], provider_id=key[21:-1])
    if key == "completion.overall":
        return m["completion"]["overall"]
    if key.startswith("follow_up["):
        return row(m["follow_up"], group=key[10:-1])
    if key.startswith("hospital["):
        g, o = key[9:-1].split(",")
        return row(m["hospital"], group=g, outcome=o)
    if key.startswith("did["):
        return row(m["did"], outcome=key[4:-1])
    if key == "pam":
        return m["pam"]
    raise KeyError(key)


problems, checked = [], 0


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= TOL
    return a == b


def compare(path, ours, theirs):
    global checked
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            problems.append((path, theirs, ours))
            return
        for k, v in ours.items():
            compare(f"{path}.{k}", v, theirs.get(k))
        return
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(theirs) != len(ours):
            problems.append((path, theirs, ours))
            return
        for i, (a, b) in enumerate(zip(ours, theirs)):
            compare(f"{path}[{i}]", a, b)
        return
    checked += 1
    if not same(theirs, ours):
        problems.append((path, theirs, ours))


README = {
    "referrals_activity_date_referral_if_never_started": (
        "another reading: a never-started referral dated by its referral date; the README "
        "(Methods, Evaluation period) dates every referral by its course's start date, "
        "the referral date only where no course start date is given",
        lambda: m["activity"]["overall"]["referrals"]),
    "uptake_all_starters": (
        "uptake = every starter (courses in progress too) / referrals, as the README's "
        "Methods define it",
        lambda: m["completion"]["overall"]["uptake"]),
}
notes = []
for key, ours in dk.items():
    if key == "readme_definitions":
        for k, v in ours.items():
            what, theirs = README[k]
            t = theirs()
            if not same(t, v):
                notes.append(f"  {k}: smpeval={t!r} other reading={v!r}\n    ({what})")
        continue
    compare(key, ours, smpeval_side(key))
if problems:
    print(f"agreement: {len(problems)} of {checked} figures DISAGREE (smpeval vs DuckDB):")
    for path, a, b in problems:
        extra = f"  (diff {a - b:+.3g})" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else ""
        print(f"  {path}: smpeval={a!r} duckdb={b!r}{extra}")
else:
    print(f"agreement: all {checked} figures agree (counts exactly, means and rates to {TOL:g})")
if notes and "--no-notes" not in sys.argv[3:]:
    print("not checked: figures under another reading of a definition than smpeval's (README Methods):")
    print("\n".join(notes))
sys.exit(1 if problems else 0)
