//! Writing a warehouse version: each checked file's parts, the manifest,
//! the courses table and the linkage counts, then the commit and the removal
//! of old versions.

use super::*;

/// What the next version changes: the files checked (their parts staged)
/// and the files no longer matched.
pub(super) struct Changes<'a> {
    pub(super) snapshot: Option<&'a warehouse::Snapshot>,
    pub(super) staging: Option<warehouse::Staging>,
    pub(super) prepared: &'a [Prepared],
    pub(super) removed: &'a [(String, String)],
    pub(super) fingerprint: &'a str,
    /// Count the linkage into the version (an ingest on its own; a run's
    /// report counts it for itself).
    pub(super) count_linkage: bool,
}

/// Ingest and repair: commits a new version when anything changed (a repair
/// always), then removes versions beyond `keep_versions`. The new version's
/// name, or None when nothing changed (nothing is written, not even the manifest).
pub(super) fn commit(
    pipeline: &Pipeline,
    mode: Mode,
    mut c: Changes,
    progress: &dyn Progress,
) -> Result<Option<String>> {
    for (_, path) in c.removed {
        progress.say(&match read_again(path, c.prepared) {
            true => format!("{path}: read again under a new file key (its source's name, or how smpeval names files, changed); its old rows are replaced"),
            false => format!("{path}: no longer matched by the pipeline; its rows are removed"),
        });
    }
    if c.prepared.is_empty() && c.removed.is_empty() && mode != Mode::Repair {
        return Ok(None);
    }
    let base = match mode {
        Mode::Ingest => c.snapshot,
        _ => None,
    };
    let st = match c.staging.take() {
        Some(st) => st,
        None => warehouse::Staging::begin(&pipeline.warehouse)?,
    };
    let v = write(pipeline, st, base, &c)?;
    progress.counts(
        &format!(
            "committed warehouse version {v} ({} files ingested)",
            c.prepared.len()
        ),
        &[("files_ingested", c.prepared.len() as u64)],
    );
    collect_garbage(pipeline, progress);
    Ok(Some(v))
}

/// Removes versions beyond `keep_versions`; a failure is only a warning
/// (the new version is committed).
pub(super) fn collect_garbage(pipeline: &Pipeline, progress: &dyn Progress) {
    let gc = match crate::files::failpoint("ingest.gc") {
        Ok(()) => warehouse::collect_garbage(&pipeline.warehouse, pipeline.settings.keep_versions)
            .map_err(|e| crate::error::chain_text(&e)),
        Err(e) => Err(e.to_string()),
    };
    match gc {
        Ok(gone) if !gone.is_empty() => progress.say(&format!(
            "removed old warehouse version(s) {} (keep_versions = {})",
            gone.join(", "),
            pipeline.settings.keep_versions
        )),
        Ok(_) => {}
        Err(e) => progress.warn(&e),
    }
}

pub(super) fn with_lineage(df: DataFrame, source: &str, path: &str) -> Result<DataFrame> {
    Ok(df.lazy().with_columns(lineage(source, path)).collect()?)
}

/// The source and file every row of a file carries.
pub(super) fn lineage(source: &str, path: &str) -> [Expr; 2] {
    [
        lit(source.to_string()).alias(schema::SOURCE),
        lit(path.to_string()).alias(schema::SOURCE_FILE),
    ]
}

/// Writes a hospital file's rows (in line order) as Hive partitions by
/// setting and year of the event, in order of first appearance: as many at
/// a time as there are cores (each filtered from the rows as it is written,
/// so a large extract is never held twice).
fn write_partitions(
    st: &mut warehouse::Staging,
    table: &str,
    part: &str,
    file_key: &str,
    rows: LazyFrame,
) -> Result<()> {
    let year = col(schema::EVENT_DATE).dt().year().alias(schema::YEAR);
    let rows = rows.with_column(year).collect()?;
    let keys = rows
        .select([schema::SETTING, schema::YEAR])?
        .unique_stable(None, UniqueKeepStrategy::First, None)?;
    let settings = keys.column(schema::SETTING)?.str()?.clone();
    let years = keys.column(schema::YEAR)?.i32()?.clone();
    let partitions = settings
        .iter()
        .zip(years.iter())
        .map(|(setting, year)| {
            let mine = is(schema::SETTING, setting.map(lit)).and(is(schema::YEAR, year.map(lit)));
            let g = rows.clone().lazy().filter(mine).drop(cols([schema::YEAR]));
            (setting.map(str::to_string), year, g)
        })
        .collect();
    write_partitioned(st, table, part, file_key, partitions)
}

/// One Hive partition of a hospital file's rows: its setting, its year and
/// its rows (the partition columns kept in the path only).
type Partition = (Option<String>, Option<i32>, LazyFrame);

/// Writes a hospital file's partitions, as many side by side as there are
/// cores, and lists them in the version in the order given.
fn write_partitioned(
    st: &mut warehouse::Staging,
    table: &str,
    part: &str,
    file_key: &str,
    partitions: Vec<Partition>,
) -> Result<()> {
    let threads = read::reading_threads();
    for group in partitions.chunks(threads) {
        let shared: &warehouse::Staging = st;
        let written = read::side_by_side(group, |(setting, year, rows)| {
            let mut g = rows.clone().drop(cols([schema::SETTING])).collect()?;
            let rel = format!(
                "{table}/{}={}/{}={}/{part}",
                schema::SETTING,
                setting.as_deref().unwrap_or("unknown"),
                schema::YEAR,
                year.unwrap_or(0)
            );
            Ok::<_, IngestError>(shared.write_unlisted(&rel, &mut g, "ingest.part")?)
        });
        for w in written {
            st.list(table, Some(file_key), w?);
        }
    }
    Ok(())
}

/// True where `column` is `value` (null where it is None).
fn is(column: &str, value: Option<Expr>) -> Expr {
    match value {
        Some(v) => col(column).eq(v),
        None => col(column).is_null(),
    }
}

/// Writes one checked file's parts (its rows, rejects and warnings) into the
/// version being built, and lets go of its rows.
pub(super) fn write_parts(st: &mut warehouse::Staging, p: &mut Prepared) -> Result<()> {
    let r = &p.report;
    let table = p.kind.table();
    let part = warehouse::part_name(&r.file_key);
    let lineage = lineage(&r.source, &r.path);
    if let Some(mut spill) = p.spill.take() {
        let (parts, written) = spill.parts()?;
        let partitions = parts
            .into_iter()
            .map(|(pt, rows)| (pt.setting, pt.year, rows.with_columns(lineage.clone())))
            .collect();
        write_partitioned(st, table, &part, &r.file_key, partitions)?;
        drop(spill);
        p.report.written = written;
    } else if p.kind == SourceKind::Hospital {
        let accepted = std::mem::take(&mut p.accepted).lazy();
        write_partitions(
            st,
            table,
            &part,
            &r.file_key,
            accepted.with_columns(lineage),
        )?;
    } else {
        let mut df = std::mem::take(&mut p.accepted)
            .lazy()
            .with_columns(lineage)
            .collect()?;
        let rel = format!("{table}/{part}");
        st.write(table, &rel, Some(&r.file_key), &mut df, "ingest.part")?;
    }
    let r = &p.report;
    // Rejects, then warnings (both at the rejects' failpoint).
    for (table, frame) in [
        (warehouse::REJECTS, &mut p.rejects),
        (warehouse::WARNINGS, &mut p.warnings),
    ] {
        let mut df = with_lineage(std::mem::take(frame), &r.source, &r.path)?;
        let rel = format!("{table}/{part}");
        st.write(table, &rel, Some(&r.file_key), &mut df, "ingest.rejects")?;
    }
    Ok(())
}

/// Finishes the next version of the warehouse (`st`, holding the parts of
/// the files just ingested, `c.prepared`) on `base` (the current version;
/// None to build from nothing) and commits it. Returns its name.
pub(super) fn write(
    pipeline: &Pipeline,
    mut st: warehouse::Staging,
    base: Option<&warehouse::Snapshot>,
    c: &Changes,
) -> Result<String> {
    let (prepared, removed, fingerprint) = (c.prepared, c.removed, c.fingerprint);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let replaced: Vec<String> = prepared
        .iter()
        .map(|p| p.report.file_key.clone())
        .chain(removed.iter().map(|(k, _)| k.clone()))
        .collect();
    // Files not re-ingested are carried over as they are, listed first; courses
    // and the manifest are rebuilt.
    if let Some(prev) = base {
        let mut kept = 0;
        for f in &prev.files {
            let rebuilt = f.table == warehouse::COURSES || f.table == warehouse::MANIFEST;
            let replaced = f.file_key.as_ref().is_some_and(|k| replaced.contains(k));
            if !rebuilt && !replaced {
                st.keep(prev, f)?;
                kept += 1;
            }
        }
        st.move_last_to_front(kept);
    }

    // The manifest: previous rows for files not re-ingested, new rows for the rest.
    let mut rows: Vec<ManifestRow> = match base {
        Some(prev) => warehouse::manifest::read(prev)?
            .into_iter()
            .filter(|r| !replaced.contains(&r.file_key))
            .collect(),
        None => Vec::new(),
    };
    rows.extend(prepared.iter().map(|p| ManifestRow {
        source: p.report.source.clone(),
        path: p.report.path.clone(),
        file_key: p.report.file_key.clone(),
        size_bytes: p.report.size_bytes,
        sha256: p.report.sha256.clone(),
        rows_read: p.report.rows_read as u64,
        rows_accepted: p.report.accepted as u64,
        rows_rejected: p.report.rejected as u64,
        rows_written: p.report.written as u64,
        sentinel_dates: p.report.sentinel_dates as u64,
        schema_version: SCHEMA_VERSION,
        source_config: p.config.clone(),
        key_fingerprint: fingerprint.to_string(),
        pipeline_sha256: pipeline.sha256.clone(),
        ingested_at: now.clone(),
    }));
    st.write_manifest(&rows)?;
    rebuild_courses(pipeline, &mut st)?;
    // Counted once per version: an ingest with nothing to do warns from it.
    let returns = st.scan_parts(warehouse::PARTICIPANTS)?;
    let hospital = st.scan_parts(warehouse::HOSPITAL_EVENTS)?;
    if c.count_linkage && !returns.is_empty() && !hospital.is_empty() {
        if let Some(l) = linkage::linkage_lazy(returns, hospital)? {
            st.set_linkage(warehouse::LinkageCounts {
                people: l.people as u64,
                linked: l.linked as u64,
            });
        }
    }
    Ok(st.commit()?)
}

/// The courses table: one row per provider and course, from all participants.
pub(super) fn rebuild_courses(pipeline: &Pipeline, st: &mut warehouse::Staging) -> Result<()> {
    use schema::*;
    let Some(participants) = st.table(warehouse::PARTICIPANTS)? else {
        return Ok(());
    };
    let threshold = pipeline.settings.completion_threshold;
    let mut courses = participants
        .lazy()
        .group_by_stable([col(PROVIDER_ID), col(COURSE_ID)])
        .agg([
            col(PROGRAMME).first(),
            col(COURSE_START_DATE).min(),
            col(COURSE_LANGUAGE).drop_nulls().first(),
            len().cast(DataType::UInt32).alias("referrals"),
            // The starter and completer rules are the metrics' own (one place).
            crate::metrics::referrals::is_starter()
                .sum()
                .cast(DataType::UInt32)
                .alias("starters"),
            crate::metrics::referrals::is_completer(threshold)
                .sum()
                .cast(DataType::UInt32)
                .alias("completers"),
        ])
        .sort([PROVIDER_ID, COURSE_ID], SortMultipleOptions::default())
        .collect()?;
    st.write(
        warehouse::COURSES,
        &format!("{}/courses.parquet", warehouse::COURSES),
        None,
        &mut courses,
        "ingest.courses",
    )?;
    Ok(())
}
