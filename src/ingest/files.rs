//! Reading and checking each input file of the pipeline: skipped when
//! unchanged since the last ingest, else read, checked, reported and (ingest
//! and repair) its parts staged in the next version.

use super::spill::Spill;
use super::write::write_parts;
use super::*;
use crate::error::{FileOp, StoreError};

/// How much of a hospital extract's CSV is read and checked at a time
/// (about 4M rows): its working memory is a batch's, while the checked rows
/// it keeps are a fraction of the text's size.
const BATCH_BYTES: usize = 128 << 20;

/// The batch size: `SMPEVAL_BATCH_BYTES` where set (a smaller one for a
/// machine with less memory; tests use a tiny one), else [`BATCH_BYTES`].
fn batch_bytes() -> usize {
    std::env::var("SMPEVAL_BATCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(BATCH_BYTES)
}

/// The LSOA lookup as two text columns, `lsoa_code` (upper case) and
/// `imd_decile`, one row per code (the first wins).
pub(super) fn read_lsoa_lookup(l: &crate::pipeline::LsoaLookup) -> Result<DataFrame> {
    let path = Path::new(&l.file);
    let bad = |m: String| InputError::File {
        path: path.to_path_buf(),
        message: m,
    };
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| bad(format!("cannot read the LSOA lookup: {e}")))?;
    let headers = rdr
        .headers()
        .map_err(|e| bad(format!("cannot read the header row: {e}")))?
        .clone();
    let find = |h: &str| {
        headers
            .iter()
            .position(|x| x.trim().eq_ignore_ascii_case(h.trim()))
    };
    let (Some(ci), Some(di)) = (find(&l.code_column), find(&l.decile_column)) else {
        return Err(bad(format!(
            "the LSOA lookup needs columns \"{}\" and \"{}\"",
            l.code_column, l.decile_column
        ))
        .into());
    };
    let mut codes = Vec::new();
    let mut deciles = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad(format!("cannot read a row: {e}")))?;
        let code = rec.get(ci).unwrap_or("").trim().to_uppercase();
        if !code.is_empty() && seen.insert(code.clone()) {
            codes.push(code);
            deciles.push(rec.get(di).unwrap_or("").trim().to_string());
        }
    }
    Ok(df!(schema::LSOA_CODE => codes, schema::IMD_DECILE => deciles)?)
}

/// Every source's files, read, checked and (ingest and repair) staged.
pub(super) struct Files<'a> {
    pub(super) pipeline: &'a Pipeline,
    pub(super) mode: Mode,
    pub(super) progress: &'a dyn Progress,
    pub(super) key: Arc<Vec<u8>>,
    pub(super) previous: &'a BTreeMap<String, ManifestRow>,
    /// Each file's SHA-256, hashed before any is read (ingest over a warehouse).
    pub(super) hashed: BTreeMap<PathBuf, String>,
    /// The next version, begun with the first file checked.
    pub(super) staging: Option<warehouse::Staging>,
    pub(super) prepared: Vec<Prepared>,
    /// File keys of files unchanged since the last ingest.
    pub(super) skipped: Vec<String>,
    /// File keys of every file the pipeline matches.
    pub(super) current: Vec<String>,
    /// Validate's scratch folder for large extracts (private, in the system's
    /// temporary folder, `TMPDIR`), made on first use and removed with it.
    validate_scratch: Option<tempfile::TempDir>,
}

impl<'a> Files<'a> {
    /// Nothing read yet, over the current version's manifest rows `previous`.
    pub(super) fn new(
        pipeline: &'a Pipeline,
        mode: Mode,
        progress: &'a dyn Progress,
        key: Arc<Vec<u8>>,
        previous: &'a BTreeMap<String, ManifestRow>,
    ) -> Self {
        Files {
            pipeline,
            mode,
            progress,
            key,
            previous,
            hashed: BTreeMap::new(),
            staging: None,
            prepared: Vec::new(),
            skipped: Vec::new(),
            current: Vec::new(),
            validate_scratch: None,
        }
    }

    /// Reads every source's files in turn. Ingest and repair write each
    /// file's parts into the next version as soon as the file is checked, so
    /// one file's rows are held at a time; the version is committed (or
    /// dropped, on any failure) after every file. Provider returns (read
    /// whole, and small) are read and checked two at a time, then reported
    /// and kept in the pipeline's order, as if read one after the other.
    pub(super) fn read_all(&mut self) -> Result<()> {
        let pipeline = self.pipeline;
        // Every source's files first: a source with none is bad input before any reading.
        let files: Vec<Vec<SourceFile>> = pipeline
            .sources
            .iter()
            .map(|s| source_files(pipeline, s))
            .collect::<Result<_, _>>()?;
        self.progress.files(files.iter().map(Vec::len).sum());
        // An ingest first hashes every file (in parallel, without keeping them),
        // so that a file unchanged since the last ingest is never read whole.
        if self.mode == Mode::Ingest && !self.previous.is_empty() {
            self.hashed = hash_files(files.iter().flatten().map(|f| &f.path));
        }
        let mut sources = Vec::new();
        for source in &pipeline.sources {
            let lsoa = match &source.lsoa_lookup {
                Some(l) => Some(read_lsoa_lookup(l)?),
                None => None,
            };
            sources.push((source, source_config(&pipeline.dir, source)?, lsoa));
        }
        let queue: Vec<(usize, SourceFile)> = files
            .into_iter()
            .enumerate()
            .flat_map(|(i, fs)| fs.into_iter().map(move |f| (i, f)))
            .collect();
        let whole = |i: usize| !checks::checks_in_batches(sources[i].0);
        let mut at = 0;
        while at < queue.len() {
            let run = queue[at..]
                .iter()
                .take_while(|(i, _)| whole(*i))
                .take(read::reading_threads())
                .count()
                .max(1);
            self.files_side_by_side(&sources, &queue[at..at + run])?;
            at += run;
        }
        Ok(())
    }

    /// Reads `files` (each with its source's index in `sources`) side by side
    /// where there are two or more, then reports and keeps each in turn.
    fn files_side_by_side(
        &mut self,
        sources: &[(&Source, String, Option<DataFrame>)],
        files: &[(usize, SourceFile)],
    ) -> Result<()> {
        let planned: Vec<(usize, SourceFile, bool)> = files
            .iter()
            .map(|(i, f)| (*i, f.clone(), self.unchanged(f, &sources[*i].1)))
            .collect();
        let reader = self.reader();
        let load = |(i, file, unchanged): &(usize, SourceFile, bool), spill_to: Option<SpillTo>| {
            let (source, config, lsoa) = &sources[*i];
            match unchanged {
                true => Ok(Load::Unchanged(file.clone())),
                false => reader.load(source, config, lsoa.as_ref(), file.clone(), spill_to),
            }
        };
        if let [one] = &planned[..] {
            // One file (a hospital extract may spill into the version being built).
            let loaded = {
                let mut scratch = |fkey: &str| self.scratch(fkey);
                load(one, Some(&mut scratch))?
            };
            let (source, config, _) = &sources[one.0];
            return self.keep(source, config, loaded);
        }
        let loads = read::side_by_side(&planned, |one| load(one, None));
        for ((i, _, _), load) in planned.iter().zip(loads) {
            let (source, config, _) = &sources[*i];
            self.keep(source, config, load?)?;
        }
        Ok(())
    }

    /// What reading a file needs, shared by files read side by side.
    fn reader(&self) -> Reader<'a> {
        Reader {
            pipeline: self.pipeline,
            key: self.key.clone(),
            previous: self.previous,
            mode: self.mode,
        }
    }

    /// Counts `file` among the pipeline's; true when an ingest finds it
    /// unchanged since the last (by the hash taken before any reading).
    fn unchanged(&mut self, file: &SourceFile, config: &str) -> bool {
        self.current.push(file.key.clone());
        let same = self
            .hashed
            .remove(&file.path)
            .is_some_and(|sha| self.reader().same(&file.key, &sha, config));
        self.mode == Mode::Ingest && same
    }

    /// Says why an unchanged file is read again: an older smpeval ingested
    /// it, into a warehouse laid out otherwise (`previous`: its manifest row).
    fn say_if_older(&self, shown: &str, previous: Option<&ManifestRow>, sha: &str, config: &str) {
        let older = previous.filter(|p| state_against(p, sha, config) == "upgrade");
        if let (Some(n), Mode::Ingest) = (older.map(|p| p.schema_version), self.mode) {
            self.progress.say(&format!(
                "{shown}: read again: it is unchanged, but was ingested by an older smpeval (warehouse rules {n}, now {SCHEMA_VERSION})"
            ));
        }
    }

    /// A file read and checked: reported, then (ingest and repair) its parts
    /// staged; an unchanged one is said and skipped.
    fn keep(&mut self, source: &Source, config: &str, load: Load) -> Result<()> {
        let l = match load {
            Load::Unchanged(f) => {
                // Unchanged: its parts are carried over into any new version as they are.
                self.skip(&f.path, f.key);
                return Ok(());
            }
            Load::Read(l) => *l,
        };
        let shown = l.path.display().to_string();
        self.say_if_older(&shown, self.previous.get(&l.fkey), &l.sha256, config);
        self.progress.reading(&shown);
        let identity = FileIdentity {
            source,
            path: &l.path,
            file_key: l.fkey,
            size_bytes: l.size_bytes,
            sha256: l.sha256,
        };
        let report = file_report(identity, l.rows_read, &l.checked)?;
        announce(self.progress, &report);
        let mut p = Prepared {
            report,
            accepted: l.checked.accepted,
            rejects: l.checked.rejects,
            warnings: l.checked.warnings,
            kind: source.kind,
            config: config.to_string(),
            spill: l.spill,
            spilled_rows: Vec::new(),
        };
        if self.mode.writes() {
            write_parts(self.staging()?, &mut p)?;
        } else {
            count_spilled(&mut p)?;
        }
        self.prepared.push(p);
        Ok(())
    }

    /// The version being built, begun on first use.
    fn staging(&mut self) -> Result<&mut warehouse::Staging> {
        if self.staging.is_none() {
            self.staging = Some(warehouse::Staging::begin(&self.pipeline.warehouse)?);
        }
        Ok(self.staging.as_mut().expect("begun above"))
    }

    /// Where a large extract's rows are spilled: in the version being built
    /// (ingest and repair), else in validate's own temporary folder.
    fn scratch(&mut self, file_key: &str) -> Result<PathBuf> {
        if self.mode.writes() {
            return Ok(self.staging()?.scratch(file_key));
        }
        if self.validate_scratch.is_none() {
            use std::os::unix::fs::PermissionsExt;
            let tmp = std::env::temp_dir();
            remove_stale_scratch(&tmp);
            // Readable by this user only: it holds pseudonymised rows.
            let dir = tempfile::Builder::new()
                .prefix(&format!("{VALIDATE_SCRATCH}{}-", std::process::id()))
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir_in(&tmp)
                .map_err(StoreError::io(FileOp::CreateTempFolderIn, &tmp))?;
            self.validate_scratch = Some(dir);
        }
        let dir = self.validate_scratch.as_ref().expect("made above");
        Ok(dir.path().join(file_key))
    }

    /// A file unchanged since the last ingest: said, counted, not read.
    fn skip(&mut self, path: &Path, fkey: String) {
        self.progress.say(&format!(
            "{}: unchanged since the last ingest, skipped",
            path.display()
        ));
        self.skipped.push(fkey);
        self.progress.file_done();
    }
}

/// A file read and checked, or found unchanged since the last ingest.
enum Load {
    Unchanged(SourceFile),
    Read(Box<Loaded>),
}

/// A file's checked rows and what its report and manifest row say of it.
struct Loaded {
    path: PathBuf,
    fkey: String,
    size_bytes: u64,
    sha256: String,
    rows_read: usize,
    checked: checks::Checked,
    /// A large hospital extract's rows, spilled while it was checked.
    spill: Option<Spill>,
}

/// Where a large hospital extract's spill goes, for its file key.
type SpillTo<'s> = &'s mut dyn FnMut(&str) -> Result<PathBuf>;

/// What reading and checking a file needs: nothing of the version being
/// built, so that files can be read side by side.
struct Reader<'a> {
    pipeline: &'a Pipeline,
    key: Arc<Vec<u8>>,
    previous: &'a BTreeMap<String, ManifestRow>,
    mode: Mode,
}

impl Reader<'_> {
    /// True when the last ingest read this file, with these contents
    /// (`sha`) and this source configuration, under the current rules.
    fn same(&self, fkey: &str, sha: &str, config: &str) -> bool {
        self.previous
            .get(fkey)
            .is_some_and(|p| state_against(p, sha, config) == "ingested")
    }

    /// Reads `file` whole, hashes it from the bytes read, and checks it. A
    /// hospital extract larger than a batch spills to a folder `spill_to`
    /// gives (None: never spilled). Unchanged when an ingest finds the file
    /// changed back to what it last read while hashing.
    fn load(
        &self,
        source: &Source,
        config: &str,
        lsoa: Option<&DataFrame>,
        file: SourceFile,
        spill_to: Option<SpillTo>,
    ) -> Result<Load> {
        let bytes = std::fs::read(&file.path).map_err(|err| IngestError::Read {
            path: file.path.clone(),
            err,
        })?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        if self.mode == Mode::Ingest && self.same(&file.key, &sha, config) {
            return Ok(Load::Unchanged(file));
        }
        let large = checks::checks_in_batches(source) && bytes.len() > batch_bytes();
        let mut spill = match (large, spill_to) {
            (true, Some(to)) => Some(Spill::new(to(&file.key)?, source)),
            _ => None,
        };
        let (rows_read, batches) =
            self.read_and_check(source, &file.path, &bytes, lsoa, spill.as_mut())?;
        let size_bytes = bytes.len() as u64;
        drop(bytes);
        // The rules that compare rows, once the file's text is let go.
        let mut checked = checks::finish(batches, source).map_err(|err| IngestError::Check {
            path: file.path.display().to_string(),
            err,
        })?;
        if let Some(s) = &spill {
            checked.rows_before_folding = s.rows;
        }
        let SourceFile { path, key: fkey } = file;
        Ok(Load::Read(Box::new(Loaded {
            path,
            fkey,
            size_bytes,
            sha256: sha,
            rows_read,
            checked,
            spill,
        })))
    }

    /// Reads one file's rows and checks each by its own rules (`check_rows`):
    /// a hospital extract a batch at a time, any other file whole. Returns
    /// the rows read and the checked batches.
    fn read_and_check(
        &self,
        source: &Source,
        path: &Path,
        bytes: &[u8],
        lsoa: Option<&DataFrame>,
        mut spill: Option<&mut Spill>,
    ) -> Result<(usize, Vec<checks::RowsChecked>)> {
        let settings = &self.pipeline.settings;
        let checked_err = |err| IngestError::Check {
            path: path.display().to_string(),
            err,
        };
        let mut rows_read = 0;
        let mut batches = Vec::new();
        let mut check = |raw: read::RawTable| {
            rows_read += raw.rows_read;
            let mut b =
                checks::check_rows(raw, source, settings, &self.key, lsoa).map_err(checked_err)?;
            if let Some(s) = spill.as_deref_mut() {
                s.push(b.accepted_mut(), source)?;
            }
            batches.push(b);
            Ok::<(), IngestError>(())
        };
        if checks::checks_in_batches(source) {
            read::read_batches(path, bytes, source, batch_bytes(), &mut check)?;
        } else {
            check(read::read_file(path, bytes, source)?)?;
        }
        Ok((rows_read, batches))
    }
}

/// Validate: a spilled extract's spells folded (a bucket at a time) to be
/// counted, and its rows kept in the spill for the linkage.
fn count_spilled(p: &mut Prepared) -> Result<()> {
    if let Some(mut s) = p.spill.take() {
        let (parts, written) = s.parts()?;
        p.report.written = written;
        p.spilled_rows = parts.into_iter().map(|(_, rows)| rows).collect();
        p.spill = Some(s);
    }
    Ok(())
}

/// How validate's scratch folders are named in the temporary folder:
/// `smpeval-validate-<process id>-<random>`.
const VALIDATE_SCRATCH: &str = "smpeval-validate-";

/// Removes the scratch folders of validate runs that were killed (their
/// process is gone); another user's, or a live run's, are left alone.
fn remove_stale_scratch(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(VALIDATE_SCRATCH)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !crate::warehouse::pid_running(pid)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// What names an input file in the manifest and the reports.
pub(super) struct FileIdentity<'a> {
    source: &'a Source,
    path: &'a Path,
    file_key: String,
    size_bytes: u64,
    sha256: String,
}

/// A checked file's report; refused when its rows do not add up.
pub(super) fn file_report(
    id: FileIdentity,
    rows_read: usize,
    checked: &checks::Checked,
) -> Result<FileReport> {
    let shown = id.path.display().to_string();
    let rejected = checked.rejects.height();
    let accepted = checked.rows_before_folding;
    if rows_read != accepted + rejected {
        return Err(IngestError::Miscount {
            path: shown,
            read: rows_read,
            accepted,
            rejected,
        });
    }
    Ok(FileReport {
        source: id.source.name.clone(),
        path: shown,
        file_key: id.file_key,
        size_bytes: id.size_bytes,
        sha256: id.sha256,
        rows_read,
        accepted,
        rejected,
        written: checked.accepted.height(),
        sentinel_dates: checked.sentinel_dates,
        ingested: true,
        top_reasons: top_reasons(&checked.rejects)?,
        examples: reject_messages(id.path, &checked.rejects, 5)?,
        warnings: count_reasons(&checked.warnings, None)?,
        warning_examples: reject_messages(id.path, &checked.warnings, 3)?,
    })
}

/// Says what became of a file's rows (counts for schedulers) and its warnings.
pub(super) fn announce(progress: &dyn Progress, report: &FileReport) {
    progress.counts(
        &format!(
            "{}: {} rows read, {} accepted, {} rejected",
            report.path, report.rows_read, report.accepted, report.rejected
        ),
        &[
            ("rows_read", report.rows_read as u64),
            ("accepted", report.accepted as u64),
            ("rejected", report.rejected as u64),
        ],
    );
    for (why, n) in &report.warnings {
        progress.warn(&format!("{}: {n} row(s) kept with {why}", report.path));
    }
    progress.file_done();
}

/// The SHA-256 of each file that can be read, streamed (a file is never held
/// whole), on as many threads as there are cores.
pub(super) fn hash_files<'a>(
    paths: impl Iterator<Item = &'a PathBuf>,
) -> BTreeMap<PathBuf, String> {
    use std::io::Read;
    let paths: Vec<&PathBuf> = paths.collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(paths.len().max(1));
    let hash = |p: &Path| -> Option<String> {
        let mut f = std::fs::File::open(p).ok()?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Some(hex::encode(h.finalize()))
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(p) = paths.get(i) else {
                            break;
                        };
                        if let Some(sha) = hash(p) {
                            out.push(((*p).clone(), sha));
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}
