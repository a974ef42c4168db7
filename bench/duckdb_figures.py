"""The core evaluation figures computed independently with DuckDB from the
inputs `smpeval generate` writes (the same CSVs and the one XLSX return), for
bench/run.sh: timed against smpeval, and checked against its metrics.json.

    python bench/duckdb_figures.py <generated dir> <out.json>

Definitions follow the README's Methods: the evaluation period by activity
date (course start, else referral date), starters (>= 1 session), completers
(>= completion_threshold), courses in progress at data_as_at (the latest
referral or course start date in the returns) left out of the completion
rate; per person the index date (first started course's start, else the first
referral), 365-day pre/post windows, eligibility when both lie in the
hospital coverage; APC episodes folded into spells by (person, admission
date), the spell's admission method from its first episode (EPIORDER, a blank
one last, then line) and its discharge from its last; emergency ADMIMETH 21-25, 2A-2D, 28;
unmatched DiD; PAM paired change (baseline the latest score in
[index-90, index+7], follow-up the earliest in [index+35, index+365]).
The column mappings and date formats are those of the generated
pipeline.toml (three providers: a Windows-1252 CSV, an XLSX, a ;-separated
Y/N register). People are linked by their NHS number's digits (smpeval links
by its HMAC, a one-to-one function of the same digits).
"""

import json
import os
import sys
import tomllib

import duckdb

d, out_path = sys.argv[1], sys.argv[2]
with open(os.path.join(d, "pipeline.toml"), "rb") as f:
    pipe = tomllib.load(f)
s = pipe["settings"]
EVAL_START, EVAL_END = s["evaluation_start"], s["evaluation_end"]
COV_START, COV_END = s["hospital_coverage_start"], s["hospital_coverage_end"]
W = int(s.get("outcome_window_days", 365))
THRESH = int(s.get("completion_threshold", 4))
PAM_PRE_BEFORE, PAM_PRE_AFTER = int(s.get("pam_pre_days_before", 90)), int(s.get("pam_pre_days_after", 7))
PAM_POST_FROM, PAM_POST_TO = int(s.get("pam_post_days_from", 35)), int(s.get("pam_post_days_to", 365))
CUT34 = float(s.get("pam_level4_cut", 67.0))

con = duckdb.connect()
p = lambda name: os.path.join(d, name).replace("'", "''")


def q(sql):
    return con.sql(sql).fetchall()


# --- Provider returns -------------------------------------------------------
# Eastleigh's XLSX: DuckDB's excel extension is downloaded at run time, so the
# workbook is read by fastexcel (through polars) and handed to DuckDB as Arrow.
import polars as pl  # noqa: E402

eastleigh = pl.read_excel(p("eastleigh_returns.xlsx"), sheet_name="Referrals").to_arrow()
con.register("eastleigh_raw", eastleigh)

# Northside's return is Windows-1252, which DuckDB's CSV reader cannot decode
# without a downloaded extension: transcode it to UTF-8 first (a few MB).
import tempfile  # noqa: E402

tmp = tempfile.mkdtemp()
with open(p("northside_returns.csv"), encoding="cp1252", errors="replace", newline="") as src, \
        open(os.path.join(tmp, "northside.csv"), "w", encoding="utf-8", newline="") as dst:
    dst.write(src.read())
northside = os.path.join(tmp, "northside.csv").replace("'", "''")

con.sql(f"""
create table returns as
select regexp_replace("NHS Number", '[^0-9]', '', 'g') as pid, 'NTH' as provider,
       "Course Ref" as course,
       strptime(nullif(trim("Course Start"), ''), '%d/%m/%Y')::date as start_date,
       strptime(nullif(trim("Referred On"), ''), '%d/%m/%Y')::date as referral_date,
       try_cast(nullif(trim("Sessions Attended"), '') as integer) as sessions
from read_csv('{northside}', header = true, all_varchar = true)
union all
select regexp_replace("Participant NHS No"::varchar, '[^0-9]', '', 'g'), 'ELS', "Course ID",
       "Start Date"::date, "Referral Date"::date, "Sessions"::integer
from eastleigh_raw
union all
select regexp_replace(nhs_no, '[^0-9]', '', 'g'), 'WCP', course,
       strptime(nullif(trim(start), ''), '%Y-%m-%d')::date,
       strptime(nullif(trim(ref_date), ''), '%Y-%m-%d')::date,
       (wk1 = 'Y')::int + (wk2 = 'Y')::int + (wk3 = 'Y')::int
         + (wk4 = 'Y')::int + (wk5 = 'Y')::int + (wk6 = 'Y')::int
from read_csv('{p("westcombe_register.csv")}', header = true, all_varchar = true, delim = ';')
""")

# Data complete to the latest referral or course start date in the returns.
(data_as_at,) = q("select greatest(max(referral_date), max(start_date)) from returns")[0]

con.sql(f"""
create table refs as
select *,
       coalesce(start_date, referral_date) as activity_date,
       coalesce(sessions >= 1, false) as starter,
       coalesce(sessions >= {THRESH}, false) as completer,
       coalesce(start_date + 35 > date '{data_as_at}', false) as in_progress
from returns
where coalesce(start_date, referral_date) between date '{EVAL_START}' and date '{EVAL_END}'
""")

figures = {"data_as_at": str(data_as_at)}


def activity_counts(where="true", by=None):
    sel = f"{by}, " if by else ""
    grp = f"group by {by} order by {by}" if by else ""
    rows = con.sql(f"""
        select {sel} count(*) as referrals,
               count(*) filter (starter) as starters,
               count(*) filter (completer) as completers,
               count(distinct provider || '|' || course) filter (starter) as courses
        from refs where {where} {grp}""").fetchall()
    return rows


r = activity_counts()[0]
figures["activity.overall"] = dict(zip(["referrals", "starters", "completers", "courses"], r))
for row in activity_counts(by="provider"):
    figures[f"activity.by_provider[{row[0]}]"] = dict(
        zip(["referrals", "starters", "completers", "courses"], row[1:]))

# Completion: starters on courses still in progress are left out.
r = q("""
select count(*), count(*) filter (starter and not in_progress),
       count(*) filter (completer and starter and not in_progress)
from refs""")[0]
figures["completion.overall"] = {
    "referrals": r[0], "starters": r[1], "completers": r[2],
    "rate": r[2] / r[1] if r[1] else None,
}

# Not compared, shown beside smpeval's figures: the README's wording, where
# the code does otherwise (see bench/compare_figures.py).
r = q(f"""
select count(*) filter (where (case when sessions >= 1 then start_date else referral_date end)
                              between date '{EVAL_START}' and date '{EVAL_END}'),
       count(*) filter (where coalesce(start_date, referral_date) between date '{EVAL_START}' and date '{EVAL_END}'
                              and sessions >= 1)
from returns""")[0]
(n_refs,) = q("select count(*) from refs")[0]
figures["readme_definitions"] = {
    "referrals_activity_date_referral_if_never_started": r[0],
    "uptake_all_starters": r[1] / n_refs if n_refs else None,
}

# --- Persons, index dates ------------------------------------------------------
# Rows of a person in the order smpeval takes them (course start, referral
# date, nulls last); the completer flag of the first started course.
con.sql(f"""
create table persons as
with ordered as (
  select *, row_number() over (partition by pid
            order by start_date asc nulls last, referral_date asc nulls last) as k
  from refs
), first_started as (
  select pid, arg_min(completer, k) as completed_first
  from ordered where starter group by pid
)
select o.pid,
       bool_or(starter) as started,
       min(start_date) filter (starter) as first_start,
       min(referral_date) as first_referral,
       coalesce(any_value(f.completed_first), false) as completed_first
from ordered o left join first_started f using (pid)
group by o.pid
""")
con.sql(f"""
create table persons2 as
select *,
       case when started then first_start else first_referral end as index_date,
       case when started then 'starters' else 'comparison' end as grp,
       (case when started then first_start else first_referral end) - {W} >= date '{COV_START}'
         and (case when started then first_start else first_referral end) + {W} - 1 <= date '{COV_END}'
         as eligible
from persons
""")

# --- Hospital events -------------------------------------------------------------
# APC: episodes of one spell (person, admission date) fold into one spell; its
# admission method from the first episode (EPIORDER, a blank one last, then
# line), its discharge date from the last. Only the referred persons' rows are needed after the fold.
con.sql(f"""
create table spells as
with apc as (
  select NHSNO as pid, ADMIDATE::date as adm, try_cast(nullif(DISDATE, '') as date) as dis,
         upper(trim(ADMIMETH)) as meth, try_cast(EPIORDER as integer) as epi,
         row_number() over () as line
  from read_csv('{p("hes_apc.csv")}', header = true, all_varchar = true)
), mine as (
  select a.* from apc a semi join persons2 p on a.pid = p.pid
)
select pid, adm,
       arg_min(meth, (coalesce(epi, 2147483647), line)) as meth,
       (list(dis order by coalesce(epi, 2147483647) desc, line desc))[1] as dis,
       count(*) as episodes
from mine group by pid, adm
""")
con.sql(f"""
create table events as
select pid, adm as event_date,
       (meth in ('21','22','23','24','25','2A','2B','2C','2D','28'))::int as emergency_admissions,
       0 as ae_attendances,
       case when meth in ('21','22','23','24','25','2A','2B','2C','2D','28')
            then coalesce(greatest(dis - adm, 0), 0) else 0 end as emergency_bed_days,
       (meth in ('11','12','13'))::int as elective_admissions,
       0 as outpatient_attendances
from spells
union all
select NHSNO, ARRIVALDATE::date, 0, 1, 0, 0, 0
from read_csv('{p("hes_ae.csv")}', header = true, all_varchar = true) a
where NHSNO in (select pid from persons2)
union all
select NHSNO, APPTDATE::date, 0, 0, 0, 0, (trim(ATTENDED) in ('5','6'))::int
from read_csv('{p("hes_op.csv")}', header = true, all_varchar = true) o
where NHSNO in (select pid from persons2)
""")

OUTCOMES = ["emergency_admissions", "ae_attendances", "emergency_bed_days",
            "elective_admissions", "outpatient_attendances"]
pre = " , ".join(
    f"coalesce(sum({o}) filter (where e.event_date - p.index_date between -{W} and -1), 0) as {o}_pre, "
    f"coalesce(sum({o}) filter (where e.event_date - p.index_date between 0 and {W - 1}), 0) as {o}_post"
    for o in OUTCOMES)
con.sql(f"""
create table outcomes as
select p.pid, p.grp, p.completed_first, p.eligible, {pre}
from persons2 p left join events e on e.pid = p.pid
group by p.pid, p.grp, p.completed_first, p.eligible
""")

groups = {
    "starters": "grp = 'starters'",
    "completers": "grp = 'starters' and completed_first",
    "comparison": "grp = 'comparison'",
}
change_stats = {}
for g, cond in groups.items():
    (persons, eligible) = q(f"select count(*), count(*) filter (eligible) from outcomes where {cond}")[0]
    figures[f"follow_up[{g}]"] = {"persons": persons, "eligible": eligible}
    for o in OUTCOMES:
        n, tp, tq, mc = q(f"""
            select count(*), sum({o}_pre), sum({o}_post), avg({o}_post - {o}_pre)
            from outcomes where eligible and {cond}""")[0]
        figures[f"hospital[{g},{o}]"] = {
            "n": n,
            "mean_pre": tp / n if n else None,
            "mean_post": tq / n if n else None,
            "change": (tq - tp) / n if n else None,
        }
        change_stats[(g, o)] = (n, mc)
for o in OUTCOMES:
    n1, m1 = change_stats[("starters", o)]
    n2, m2 = change_stats[("comparison", o)]
    figures[f"did[{o}]"] = {"n_starters": n1, "n_comparison": n2,
                            "estimate": (m1 - m2) if n1 and n2 else None}

# --- PAM -------------------------------------------------------------------------
con.sql(f"""
create table pam as
select regexp_replace("NHS Number", '[^0-9]', '', 'g') as pid,
       strptime(trim("Assessment Date"), '%d/%m/%Y')::date as adate,
       "PAM Score"::double as score,
       row_number() over () as line
from read_csv('{p("pam_scores.csv")}', header = true, all_varchar = true)
""")
lvl = lambda t: (f"case when {t} <= 470 then 1 when {t} <= 551 then 2 "
                 f"when {t} <= {round(CUT34 * 10)} then 3 else 4 end")
con.sql(f"""
create table paired as
with scored as (
  select s.pid, s.adate, s.score, s.line, s.adate - p.index_date as off
  from pam s join persons2 p on s.pid = p.pid where p.started
), b as (
  select pid, arg_max(score, (adate, line)) as pre from scored
  where off between -{PAM_PRE_BEFORE} and {PAM_PRE_AFTER} group by pid
), f as (
  select pid, arg_min(score, (adate, line)) as post from scored
  where off between {PAM_POST_FROM} and {PAM_POST_TO} group by pid
)
select pid, pre, post,
       round(pre * 10)::bigint as tpre, round(post * 10)::bigint as tpost
from b join f using (pid)
""")
n, mpre, mpost, mch, up1, up3 = q(f"""
select count(*), avg(pre), avg(post), avg((tpost - tpre) / 10.0),
       count(*) filter ({lvl('tpost')} > {lvl('tpre')}),
       count(*) filter (tpost - tpre >= 30)
from paired""")[0]
trans = [[0] * 4 for _ in range(4)]
for a, b, c in q(f"select {lvl('tpre')}, {lvl('tpost')}, count(*) from paired group by all"):
    trans[a - 1][b - 1] = c
figures["pam"] = {
    "n_paired": n, "mean_pre": mpre, "mean_post": mpost, "change": mch,
    "pct_up_one_level": up1 / n if n else None, "pct_up_3_points": up3 / n if n else None,
    "transitions": trans,
}

import shutil  # noqa: E402

shutil.rmtree(tmp, ignore_errors=True)
with open(out_path, "w") as f:
    json.dump(figures, f, indent=1, default=str)
